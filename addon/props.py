"""Settings stored in the .blend: ``Scene.posetalk`` (what the panels edit) and ``Object.posetalk`` (a rig)."""

from __future__ import annotations

import bpy


def _rig_poll(_self: bpy.types.PropertyGroup, obj: bpy.types.Object) -> bool:
    return obj.type == "MESH" and obj.posetalk.is_rig


class PoseTalkObjectSettings(bpy.types.PropertyGroup):
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


class PoseTalkSceneSettings(bpy.types.PropertyGroup):
    rig: bpy.props.PointerProperty(name="Talking Head", type=bpy.types.Object, poll=_rig_poll)
    image_path: bpy.props.StringProperty(
        name="Portrait", description="Portrait image for a new rig", subtype="FILE_PATH"
    )
    prompt: bpy.props.StringProperty(
        name="Prompt",
        description="How the head moves, e.g. 'nods slowly, then looks to the left'",
        default="nods while talking",
    )
    seed: bpy.props.IntProperty(name="Seed", description="Variation of the motion", default=0, min=0)
    strength: bpy.props.FloatProperty(
        name="Strength", description="Amplitude of the motion", default=1.0, min=0.0, max=5.0, soft_max=2.0
    )
    smoothing: bpy.props.FloatProperty(
        name="Smoothing",
        description="Extra smoothing of the motion (seconds)",
        default=0.0,
        min=0.0,
        max=5.0,
        soft_max=1.0,
        unit="TIME_ABSOLUTE",
    )
    strength_rotation: bpy.props.FloatProperty(
        name="Rotation",
        description="Amplitude of the head's turns (on top of Strength)",
        default=1.0,
        min=0.0,
        max=5.0,
        soft_max=2.0,
    )
    strength_translation: bpy.props.FloatProperty(
        name="Translation",
        description="Amplitude of the head's sideways / up-down moves (on top of Strength)",
        default=1.0,
        min=0.0,
        max=5.0,
        soft_max=2.0,
    )
    strength_scale: bpy.props.FloatProperty(
        name="Scale",
        description="Amplitude of the head's moves toward / away from the camera (on top of Strength)",
        default=1.0,
        min=0.0,
        max=5.0,
        soft_max=2.0,
    )
    time_offset_ms: bpy.props.FloatProperty(
        name="Motion Offset",
        description="Delay of the head motion against the sound in milliseconds (negative: the head leads)",
        default=0.0,
        min=-2000.0,
        max=2000.0,
        soft_min=-500.0,
        soft_max=500.0,
        precision=0,
    )
    backend: bpy.props.EnumProperty(
        name="Model",
        description="Which pose model generates the head motion",
        items=[
            ("auto", "Default", "The engine's default model (the diffusion model when its weights are installed)"),
            ("pld", "Diffusion", "Pose Latent Diffusion: motion learnt from speech, following the prompt"),
            ("procedural", "Keywords", "The rule-based generator: reads keywords of the prompt, fully predictable"),
        ],
        default="auto",
    )
    guidance: bpy.props.FloatProperty(
        name="Prompt Weight",
        description="How strongly the diffusion model follows the prompt (classifier-free guidance; 1: not extra)",
        default=3.0,
        min=0.0,
        max=20.0,
        soft_min=1.0,
        soft_max=6.0,
    )
    keep_keys: bpy.props.BoolProperty(
        name="Keep My Keys",
        description="Keep the keys you set (pins) and regenerate the motion around them",
        default=True,
    )
    use_range: bpy.props.BoolProperty(
        name="Frame Range", description="Regenerate only a range of frames", default=False
    )
    frame_start: bpy.props.IntProperty(name="Start", description="First frame to regenerate", default=1)
    frame_end: bpy.props.IntProperty(name="End", description="Last frame to regenerate", default=250)
    lips_strength: bpy.props.FloatProperty(
        name="Lips Strength", description="Amplitude of the mouth motion", default=1.0, min=0.0, max=2.0
    )
    lips_time_offset_ms: bpy.props.FloatProperty(
        name="Lips Offset",
        description="Delay of the mouth against the sound in milliseconds (negative: the mouth leads)",
        default=0.0,
        min=-2000.0,
        max=2000.0,
        soft_min=-300.0,
        soft_max=300.0,
        precision=0,
    )
    render_size: bpy.props.IntProperty(
        name="Size", description="Rendered frame size (pixels)", default=512, min=64, max=2048
    )
    blinks: bpy.props.BoolProperty(name="Blinks", description="Natural eye blinks in the render", default=True)
