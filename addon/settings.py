"""Each user-facing setting of the add-on, defined once (no ``from __future__ import annotations`` here: the
mixins' annotations must be the property definitions themselves, which operator_mixin copies).

The settings live in mixin classes (as Blender's Import Images as Planes does): the scene's PropertyGroup
(what the panels show and the .blend keeps) inherits them, and each operator gets the same definitions through
:func:`operator_mixin`, with ``SKIP_SAVE`` so that a setting a script does not pass takes the panel's value
(:func:`value`). Defaults and limits that the engine also checks are the engine's own (``engine/params.py``);
:data:`ENGINE_PARAMS` says which engine parameter each setting feeds, and a Blender test compares them through
the real worker's ``schema`` op.
"""

from typing import Any

import bpy

SEED_MAX = 2**31 - 1


class MotionSettings:
    """How Generate Motion (and New Take) make the head's motion."""

    prompt: bpy.props.StringProperty(
        name="Prompt",
        description="How the head moves, e.g. 'nods slowly, then looks to the left'",
        default="nods while talking",  # no maxlen: Blender would cut a longer prompt silently; the engine refuses it
    )
    seed: bpy.props.IntProperty(name="Seed", description="Variation of the motion", default=0, min=0, max=SEED_MAX)
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
            ("auto", "Default", "The engine's default model"),
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


class VideoSettings:
    """Where Motion from Video takes its motion from, and which channels it writes."""

    video_strip: bpy.props.StringProperty(
        name="Movie Strip",
        description="Movie strip in the sequencer whose face acts the motion (its start and trims place the keys)",
    )
    video_path: bpy.props.StringProperty(
        name="Video File",
        description="Or a video file of a face (keys from the sound strip's start, else the scene's start)",
        subtype="FILE_PATH",
    )
    video_channels: bpy.props.EnumProperty(
        name="Channels",
        description="What the video drives (the other channels keep their keys: e.g. the mouth from the audio)",
        items=[
            ("ROTATION", "Rotation", "The head's turns, nods and tilts"),
            ("LOCATION", "Location", "The head's sideways and up-down moves"),
            ("SCALE", "Scale", "The head's moves toward and away from the camera"),
            ("MOUTH", "Mouth", "mouth_open, mouth_wide, mouth_round, lips_closed from the lips"),
            ("BLINK", "Blink", "The eyelids (blink: 0 open, 1 closed), used by the render instead of random blinks"),
        ],
        options={"ENUM_FLAG"},
        default={"ROTATION", "LOCATION", "SCALE"},
    )
    video_new_take: bpy.props.BoolProperty(
        name="New Take",
        description="Capture into a new take (a copy of the current one) instead of the current take",
        default=False,
    )


class LipsSettings:
    """How Generate Lip Sync makes the mouth curves (the operator calls them ``strength``/``time_offset_ms``)."""

    lips_strength: bpy.props.FloatProperty(
        name="Lips Strength",
        description="Amplitude of the mouth motion (above 1: stylised)",
        default=1.0,
        min=0.0,
        max=3.0,
        soft_max=2.0,
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


class DialogueSettings:
    """The line's words and language, kept on each talking head (the operator calls the words ``text``)."""

    dialogue: bpy.props.StringProperty(
        name="Dialogue",
        description="The words of the line (the script): lip sync takes the phones from them, aligned to the sound; "
        "empty: the phones are recognized from the sound alone (English)",
        default="",
    )
    language: bpy.props.StringProperty(
        name="Language",
        description="Language of the dialogue: an espeak-ng code (en, en-us, fr, de, es, it, cs, ...)",
        default="en",
    )


class RenderSettings:
    """How Render Frames renders (the operator calls the size ``size``)."""

    render_size: bpy.props.IntProperty(
        name="Size", description="Longest side of the rendered frames (pixels)", default=512, min=64, max=4096,
        soft_max=2048,
    )  # fmt: skip
    blinks: bpy.props.BoolProperty(name="Blinks", description="Natural eye blinks in the render", default=True)


# scene setting → the operator property that overrides it, where the names differ
OPERATOR_NAMES = {
    "video_strip": "strip",
    "video_channels": "channels",
    "video_new_take": "new_take",
    "lips_strength": "strength",
    "lips_time_offset_ms": "time_offset_ms",
    "render_size": "size",
    "dialogue": "text",
}
# scene setting → (engine op, engine parameter) whose default and limits it must repeat
ENGINE_PARAMS = {
    "seed": ("pose", "seed"),
    "prompt": ("pose", "prompt"),
    "strength": ("pose", "strength"),
    "smoothing": ("pose", "smoothing"),
    "strength_rotation": ("pose", "strength_rotation"),
    "strength_translation": ("pose", "strength_translation"),
    "strength_scale": ("pose", "strength_scale"),
    "time_offset_ms": ("pose", "time_offset_ms"),
    "backend": ("pose", "backend"),
    "guidance": ("pose", "guidance"),
    "lips_strength": ("lips", "strength"),
    "lips_time_offset_ms": ("lips", "time_offset_ms"),
    "render_size": ("render", "size"),
    "blinks": ("render", "blinks"),
}
# head (object) setting → (engine op, engine parameter)
HEAD_ENGINE_PARAMS = {
    "dialogue": ("lips", "text"),
    "language": ("lips", "language"),
}


def operator_mixin(mixin: type, only: tuple[str, ...] | None = None) -> type:
    """The settings of ``mixin`` (or ``only`` those) as operator properties: the same definitions, renamed per
    OPERATOR_NAMES, with ``SKIP_SAVE`` (a setting the caller leaves out is not remembered from the last call:
    it takes the panel's value)."""
    annotations = {}
    for name, deferred in mixin.__annotations__.items():
        if only is not None and name not in only:
            continue
        keywords = dict(deferred.keywords)
        keywords["options"] = set(keywords.get("options", ())) | {"SKIP_SAVE"}
        annotations[OPERATOR_NAMES.get(name, name)] = deferred.function(**keywords)
    return type(f"{mixin.__name__}Options", (), {"__annotations__": annotations})


def value(op: bpy.types.Operator, context: bpy.types.Context, setting: str, owner: Any = None) -> Any:
    """A setting's value for this run: the operator's when the caller set it, else the one stored in ``owner``
    (default: the panel's, ``scene.posetalk``; a head's own settings: ``head.posetalk``)."""
    name = OPERATOR_NAMES.get(setting, setting)
    if name in op.properties.bl_rna.properties and op.properties.is_property_set(name):
        return getattr(op, name)
    return getattr(owner if owner is not None else context.scene.posetalk, setting)
