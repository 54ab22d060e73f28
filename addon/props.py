"""Settings stored in the .blend: ``Scene.posetalk`` (what the panels edit) and ``Object.posetalk`` (a talking
head: the portrait plane, or a character bound with Bind Character). Everything a character's binding needs is
library-overridable, so a linked character with a library override keeps it across save and reload."""

from __future__ import annotations

import bpy

from .settings import (
    OVERRIDABLE,
    CharacterSettings,
    DialogueSettings,
    LipsSettings,
    MotionSettings,
    RenderSettings,
    VideoSettings,
)

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _head_poll(_self: bpy.types.PropertyGroup, obj: bpy.types.Object) -> bool:
    return (obj.type == "MESH" and obj.posetalk.is_rig) or obj.posetalk.is_character


class PoseTalkMappingRow(bpy.types.PropertyGroup):
    """One row of a character's mouth table: ``target`` (a shape key, drawing, layer or action) gets ``factor``
    times ``source`` (a mouth channel or a viseme shape), summed over the target's rows."""

    target: bpy.props.StringProperty(
        name="Target", description="Shape key, layer, drawing or action", override=OVERRIDABLE
    )
    source: bpy.props.StringProperty(
        name="Source",
        description="mouth_open, mouth_wide, mouth_round, lips_closed, blink, or a viseme shape A-H, X",
        override=OVERRIDABLE,
    )
    factor: bpy.props.FloatProperty(name="Factor", default=1.0, soft_min=-2.0, soft_max=2.0, override=OVERRIDABLE)


class PoseTalkObjectSettings(CharacterSettings, DialogueSettings, bpy.types.PropertyGroup):
    is_rig: bpy.props.BoolProperty(name="PoseTalk Rig", default=False)
    image: bpy.props.PointerProperty(name="Portrait", type=bpy.types.Image)
    strip: bpy.props.StringProperty(
        name="Sound Strip", description="The sound strip this head speaks", override=OVERRIDABLE
    )
    face_height: bpy.props.FloatProperty(
        name="Face Height",
        description="Face height in Blender units: the pose's x/y offsets are keyed in multiples of it",
        default=0.4,
        min=1e-4,
        subtype="DISTANCE",
        override=OVERRIDABLE,
    )
    keys_per_second: bpy.props.FloatProperty(
        name="Keys/s", description="Sparse keys per second per channel", override=OVERRIDABLE
    )
    max_deviation: bpy.props.FloatProperty(
        name="Max Deviation", description="Max deviation of the keys, degrees", override=OVERRIDABLE
    )
    render_strip: bpy.props.StringProperty(name="Render Strip", description="The image strip of the last render")
    # a character's binding (Bind Character)
    is_character: bpy.props.BoolProperty(name="PoseTalk Character", default=False, override=OVERRIDABLE)
    mouth_object: bpy.props.PointerProperty(
        name="Mouth Object", type=bpy.types.Object, description="The object whose mouth PoseTalk drives",
        override=OVERRIDABLE,
    )  # fmt: skip
    head_axes: bpy.props.FloatVectorProperty(
        name="Head Axes", size=9, default=IDENTITY, override=OVERRIDABLE,
        description="The character's right, back and up axes in the head's own space (rows), fixed when bound",
    )  # fmt: skip
    neck_axes: bpy.props.FloatVectorProperty(name="Neck Axes", size=9, default=IDENTITY, override=OVERRIDABLE)
    move_axes: bpy.props.FloatVectorProperty(
        name="Move Axes", size=9, default=IDENTITY, override=OVERRIDABLE,
        description="The character's right, back and up axes in the space the head's location is keyed in",
    )  # fmt: skip
    mapping: bpy.props.CollectionProperty(type=PoseTalkMappingRow, override={"LIBRARY_OVERRIDABLE", "USE_INSERTION"})
    mapping_index: bpy.props.IntProperty(name="Row", default=0, override=OVERRIDABLE)


class PoseTalkSceneSettings(
    MotionSettings, VideoSettings, LipsSettings, RenderSettings, CharacterSettings, bpy.types.PropertyGroup
):
    rig: bpy.props.PointerProperty(name="Talking Head", type=bpy.types.Object, poll=_head_poll)
    image_path: bpy.props.StringProperty(
        name="Portrait", description="Portrait image for a new rig", subtype="FILE_PATH"
    )
    use_range: bpy.props.BoolProperty(
        name="Frame Range", description="Regenerate only a range of frames", default=False
    )
    frame_start: bpy.props.IntProperty(name="Start", description="First frame to regenerate", default=1)
    frame_end: bpy.props.IntProperty(name="End", description="Last frame to regenerate", default=250)
    # Bind Character's pickers
    character: bpy.props.PointerProperty(
        name="Character", type=bpy.types.Object, description="The armature or object to bind (default: the active one)"
    )
    mouth_object: bpy.props.PointerProperty(
        name="Mouth Object", type=bpy.types.Object,
        description="The mesh with the mouth's shape keys, the Grease Pencil object or the image plane (default: found)",
    )  # fmt: skip
