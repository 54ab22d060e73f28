"""Settings stored in the .blend: ``Scene.posetalk`` (what the panels edit) and ``Object.posetalk`` (a head)."""

from __future__ import annotations

import bpy

from .settings import DialogueSettings, LipsSettings, MotionSettings, RenderSettings, VideoSettings


def _head_poll(_self: bpy.types.PropertyGroup, obj: bpy.types.Object) -> bool:
    return obj.type == "MESH" and obj.posetalk.is_rig


class PoseTalkObjectSettings(DialogueSettings, bpy.types.PropertyGroup):
    is_rig: bpy.props.BoolProperty(name="PoseTalk Rig", default=False)
    image: bpy.props.PointerProperty(name="Portrait", type=bpy.types.Image)
    strip: bpy.props.StringProperty(name="Sound Strip", description="The sound strip this head speaks")
    face_height: bpy.props.FloatProperty(
        name="Face Height",
        description="Face height in Blender units: the pose's x/y offsets are keyed in multiples of it",
        default=0.4,
        min=1e-4,
        subtype="DISTANCE",
    )
    keys_per_second: bpy.props.FloatProperty(name="Keys/s", description="Sparse keys per second per channel")
    max_deviation: bpy.props.FloatProperty(name="Max Deviation", description="Max deviation of the keys, degrees")
    render_strip: bpy.props.StringProperty(name="Render Strip", description="The image strip of the last render")


class PoseTalkSceneSettings(MotionSettings, VideoSettings, LipsSettings, RenderSettings, bpy.types.PropertyGroup):
    rig: bpy.props.PointerProperty(name="Talking Head", type=bpy.types.Object, poll=_head_poll)
    image_path: bpy.props.StringProperty(
        name="Portrait", description="Portrait image for a new rig", subtype="FILE_PATH"
    )
    use_range: bpy.props.BoolProperty(
        name="Frame Range", description="Regenerate only a range of frames", default=False
    )
    frame_start: bpy.props.IntProperty(name="Start", description="First frame to regenerate", default=1)
    frame_end: bpy.props.IntProperty(name="End", description="Last frame to regenerate", default=250)
