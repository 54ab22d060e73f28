"""Takes of a talking head (the plane or a bound character): Switch Take, Make Editable, Bake to One Action.

Each is one undo step and changes nothing when it reports an error.
"""

from __future__ import annotations

from typing import Any

import bpy

from .. import curves, runner, takes, targets
from ..errors import UserError
from .common import HeadOption, poll


class POSETALK_OT_switch_take(HeadOption, bpy.types.Operator):
    """Make another take the talking head's active action (what plays and what renders)"""

    bl_idname = "posetalk.switch_take"
    bl_label = "Switch Take"
    bl_options = {"REGISTER", "UNDO"}
    bl_property = "take"

    # take: an EnumProperty of the rig's takes, set below (its items callback must be a real function, not a
    # string annotation evaluated out of this module)
    action: bpy.props.StringProperty(name="Action", description="Take by action name (scripts)", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if targets.find_target(context) is None:
            cls.poll_message_set("No talking head in the scene")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        if runner.busy():
            self.report({"ERROR"}, "A PoseTalk job is running: wait for it")
            return {"CANCELLED"}
        obj = targets.find_target(context, self.rig)
        name = self.action or (self.take if self.properties.is_property_set("take") else "")
        action = bpy.data.actions.get(name) if name else None
        if obj is None or action is None or action not in takes.takes_of(obj):
            self.report({"ERROR"}, f"no take named {name!r} for this talking head")
            return {"CANCELLED"}
        takes.assign(obj, action)
        context.scene.posetalk.seed = int(action.get("posetalk_seed", context.scene.posetalk.seed))
        self.report({"INFO"}, f"PoseTalk: {obj.name} now plays {action.name}")
        return {"FINISHED"}


_ITEMS_CACHE: list[tuple[str, str, str]] = []  # Blender needs the strings of dynamic enum items kept alive


def _take_items(_self: Any, context: bpy.types.Context | None) -> list[tuple[str, str, str]]:
    obj = targets.find_target(context) if context is not None else None
    _ITEMS_CACHE[:] = takes.enum_items(obj) or [("NONE", "(no takes)", "")]
    return _ITEMS_CACHE


POSETALK_OT_switch_take.__annotations__["take"] = bpy.props.EnumProperty(name="Take", items=_take_items)


class POSETALK_OT_make_editable(HeadOption, bpy.types.Operator):
    """Thin the generated keys further (fewer keys, looser fit); your keys (pins) stay exactly as they are"""

    bl_idname = "posetalk.make_editable"
    bl_label = "Make Editable"
    bl_options = {"REGISTER", "UNDO"}

    tolerance: bpy.props.FloatProperty(
        name="Tolerance (°)",
        description="How far the thinned curve may leave the current one, in degrees (moves and mouth in proportion)",
        default=1.0,
        min=0.05,
        max=10.0,
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return poll(cls, context, need_strip=False, need_engine=False)

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = targets.find_target(context, self.rig)
        try:
            if obj is None:
                raise UserError(f"no talking head named {self.rig!r}")
            before, after = targets.thin(obj, self.tolerance)
        except UserError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.stats = {"keys_before": before, "keys_after": after}
        self.report({"INFO"}, f"PoseTalk: {before} keys → {after} (tolerance {self.tolerance:.2f}°, pins kept)")
        return {"FINISHED"}


class POSETALK_OT_bake_take(HeadOption, bpy.types.Operator):
    """Bake the current take into one plain action whose keys are all ordinary keys (pins for later
    regenerations). On a character the PoseTalk layer and the character's own animation are merged"""

    bl_idname = "posetalk.bake_take"
    bl_label = "Bake to One Action"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return poll(cls, context, need_strip=False, need_engine=False)

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = targets.find_target(context, self.rig)
        old = takes.current_action(obj) if obj is not None else None
        take = old is not None and "posetalk_take" in old
        seed = int(old.get("posetalk_seed", 0)) if take else 0
        prompt = str(old.get("posetalk_prompt", "")) if take else ""
        number = takes.next_number(obj) if obj is not None else 0
        name = takes.take_name(number, seed, prompt, baked=True) if take else f"PoseTalk Bake {number} · {obj.name}"
        try:
            if obj is None:
                raise UserError(f"no talking head named {self.rig!r}")
            if targets.is_character(obj):
                action, baked, count = targets.bake_character(context, obj, name)
            else:
                action, count = self._bake_plane(obj, name)
                baked = [action]
        except UserError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if action is not None:
            takes.tag(action, obj, number, seed, prompt)
            action["posetalk_baked"] = True
        self.stats = {"action": action.name if action else "", "actions": [a.name for a in baked], "keys": count}
        into = ", ".join(a.name for a in baked)
        self.report({"INFO"}, f"PoseTalk: baked {obj.name} into {into} ({count} keys)")
        return {"FINISHED"}

    @staticmethod
    def _bake_plane(obj: bpy.types.Object, name: str) -> tuple[bpy.types.Action, int]:
        if takes.current_action(obj) is None or curves.find_fcurves(obj) is None:
            raise UserError("nothing to bake: generate motion first")
        action = takes.duplicate(obj, name)
        count = 0
        for fc in curves.find_fcurves(obj):
            for kp in fc.keyframe_points:
                kp.type = "KEYFRAME"
                count += 1
        return action, count


classes = (POSETALK_OT_switch_take, POSETALK_OT_make_editable, POSETALK_OT_bake_take)
