"""Bind Character: any character becomes a talking head (its head bone or object, its mouth), and the rows of
its mouth table can be added and removed in the panel."""

from __future__ import annotations

import bpy

from .. import character, settings, targets
from ..errors import UserError


class POSETALK_OT_bind_character(settings.operator_mixin(settings.CharacterSettings), bpy.types.Operator):
    """Make a character a talking head: head motion on its head bone (or the object), lip sync on its shape
    keys, drawings or actions, in a PoseTalk layer over its own animation"""

    bl_idname = "posetalk.bind_character"
    bl_label = "Bind Character"
    bl_options = {"REGISTER", "UNDO"}

    object: bpy.props.StringProperty(
        name="Object", description="The armature or head object (default: the panel's, else the active one)",
        options={"SKIP_SAVE"},
    )  # fmt: skip
    strip: bpy.props.StringProperty(
        name="Sound Strip", description="Sound strip it speaks (default: the active one)", options={"SKIP_SAVE"}
    )
    mouth_object: bpy.props.StringProperty(
        name="Mouth Object", description="Mesh, Grease Pencil object or image plane of the mouth (default: found)",
        options={"SKIP_SAVE"},
    )  # fmt: skip
    mapping: bpy.props.StringProperty(
        name="Mapping",
        description='The mouth table as JSON, e.g. {"jawOpen": "mouth_open", "Smile": {"B": 0.3}} (default: the preset)',
        options={"SKIP_SAVE"},
    )

    def _object(
        self, context: bpy.types.Context, name: str, picked: bpy.types.Object | None
    ) -> bpy.types.Object | None:
        if name:
            obj = bpy.data.objects.get(name)
            if obj is None:
                raise UserError(f"no object named {name!r}")
            return obj
        return picked

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        names = settings.CharacterSettings.__annotations__
        values = {name: settings.value(self, context, name) for name in names}
        try:
            obj = self._object(context, self.object, scene.posetalk.character or context.active_object)
            mouth_object = self._object(context, self.mouth_object, scene.posetalk.mouth_object)
            plan = character.plan(context, obj, values, mouth_object, self.mapping, self.strip)
        except UserError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        character.store(context, plan)
        head = f"bone {values['head_bone']!r}" if plan.obj.type == "ARMATURE" else "the object"
        if values.get("neck_bone"):
            head += f", neck {values['neck_bone']!r} {values['neck_share'] * 100:.0f} %"
        strip = f", speaking {plan.strip}" if plan.strip else " (no sound strip yet: link one in the panel)"
        self.report({"INFO"}, f"Bound {plan.obj.name}: head {head}; {'; '.join(plan.notes) or 'no mouth'}{strip}")
        return {"FINISHED"}


class POSETALK_OT_mapping_add(bpy.types.Operator):
    """Add a row to the character's mouth table"""

    bl_idname = "posetalk.mapping_add"
    bl_label = "Add Row"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return targets.is_character(targets.find_target(context))

    def execute(self, context: bpy.types.Context) -> set[str]:
        st = targets.find_target(context).posetalk
        row = st.mapping.add()
        row.name = character.unique_row_name(st.mapping)
        row.source, row.factor = "mouth_open", 1.0
        st.mapping_index = len(st.mapping) - 1
        return {"FINISHED"}


class POSETALK_OT_mapping_remove(bpy.types.Operator):
    """Remove the selected row of the character's mouth table"""

    bl_idname = "posetalk.mapping_remove"
    bl_label = "Remove Row"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        obj = targets.find_target(context)
        return targets.is_character(obj) and 0 <= obj.posetalk.mapping_index < len(obj.posetalk.mapping)

    def execute(self, context: bpy.types.Context) -> set[str]:
        st = targets.find_target(context).posetalk
        st.mapping.remove(st.mapping_index)
        st.mapping_index = min(st.mapping_index, len(st.mapping) - 1)
        return {"FINISHED"}


classes = (POSETALK_OT_bind_character, POSETALK_OT_mapping_add, POSETALK_OT_mapping_remove)
