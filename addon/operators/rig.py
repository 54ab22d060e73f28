"""Create Talking Head: the camera-facing portrait plane, linked to a sound strip."""

from __future__ import annotations

import bpy

from .. import rig, sequencer
from ..errors import UserError


class POSETALK_OT_create_rig(bpy.types.Operator):
    """Create a camera-facing talking-head plane from a portrait, linked to a sound strip"""

    bl_idname = "posetalk.create_rig"
    bl_label = "Create Talking Head"
    bl_options = {"REGISTER", "UNDO"}

    image_path: bpy.props.StringProperty(
        name="Image", subtype="FILE_PATH", description="Portrait image", options={"SKIP_SAVE"}
    )
    strip: bpy.props.StringProperty(
        name="Sound Strip", description="Sound strip to link (default: the active one)", options={"SKIP_SAVE"}
    )
    name: bpy.props.StringProperty(name="Name", default="PoseTalk Head", options={"SKIP_SAVE"})
    distance: bpy.props.FloatProperty(
        name="Distance", default=2.0, min=0.01, description="Distance from the camera", options={"SKIP_SAVE"}
    )
    pivot_height: bpy.props.FloatProperty(
        name="Neck Pivot",
        default=0.3,
        min=0.0,
        max=1.0,
        description="Height of the neck pivot, fraction of the image",
        options={"SKIP_SAVE"},
    )

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        path = self.image_path or scene.posetalk.image_path
        if self.strip:
            strip = next((s for s in sequencer.sound_strips(scene) if s.name == self.strip), None)
            if strip is None:
                self.report({"ERROR"}, f"no sound strip named {self.strip!r} in the scene")
                return {"CANCELLED"}
        else:
            strip = sequencer.active_sound_strip(scene)
        try:
            obj = rig.create_rig(scene, path, strip, self.name, self.distance, self.pivot_height)
        except UserError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for other in context.view_layer.objects:
            other.select_set(False)
        obj.select_set(True)
        context.view_layer.objects.active = obj
        note = f", speaking {strip.name}" if strip else " (no sound strip yet: link one in the PoseTalk panel)"
        if strip is None:
            note += sequencer.sequencer_scene_hint(context)
        self.report({"INFO"}, f"Created {obj.name}{note}")
        return {"FINISHED"}


classes = (POSETALK_OT_create_rig,)
