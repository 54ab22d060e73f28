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
        default=5.0,
        min=0.0,
        max=20.0,
        soft_min=1.0,
        soft_max=6.0,
    )
    pause_calm: bpy.props.FloatProperty(
        name="Settle in Pauses",
        description="How much the diffusion model's quick motion (nods, shakes) settles in pauses of the speech "
        "(0: as generated, 1: only slow turns are left)",
        default=0.5,
        min=0.0,
        max=1.0,
        subtype="FACTOR",
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


OVERRIDABLE = {"LIBRARY_OVERRIDABLE"}  # a character linked with a library override keeps its binding and dialogue


class DialogueSettings:
    """The line's words and language, kept on each talking head (the operator calls the words ``text``)."""

    dialogue: bpy.props.StringProperty(
        name="Dialogue",
        description="The words of the line (the script): lip sync takes the phones from them, aligned to the sound; "
        "empty: the phones are recognized from the sound alone (English)",
        default="",
        override=OVERRIDABLE,
    )
    language: bpy.props.StringProperty(
        name="Language",
        description="Language of the dialogue: an espeak-ng code (en, en-us, fr, de, es, it, cs, ...)",
        default="en",
        override=OVERRIDABLE,
    )


class RenderSettings:
    """How Render Frames renders (the operator calls the size ``size``)."""

    render_size: bpy.props.IntProperty(
        name="Size", description="Longest side of the rendered frames (pixels)", default=512, min=64, max=4096,
        soft_max=2048,
    )  # fmt: skip
    blinks: bpy.props.BoolProperty(name="Blinks", description="Natural eye blinks in the render", default=True)


AXIS_ITEMS = [(a, a, f"the bone's (or object's) own {a} axis") for a in ("X", "-X", "Y", "-Y", "Z", "-Z")]


class CharacterSettings:
    """How Bind Character drives a character: its head (a bone and an optional neck bone, or the object) and
    its mouth (shape keys by a preset or a custom table, actions, or 2D drawings). The panel's pickers and the
    binding stored on the character share these definitions."""

    head_bone: bpy.props.StringProperty(
        name="Head Bone", description="The armature's head bone (default: the preset's)", override=OVERRIDABLE
    )
    neck_bone: bpy.props.StringProperty(
        name="Neck Bone", description="A neck bone that shares the head's turns (optional)", override=OVERRIDABLE
    )
    neck_share: bpy.props.FloatProperty(
        name="Neck Share",
        description="The neck bone's share of every turn; the head bone turns the rest (0.4: 40/60)",
        default=0.4,
        min=0.0,
        max=1.0,
        subtype="FACTOR",
        override=OVERRIDABLE,
    )
    rig_preset: bpy.props.EnumProperty(
        name="Rig",
        description="Bone names and axes of the head",
        items=[
            ("AUTO", "Auto", "Axes from the bone's rest orientation (the character faces -Y when bound)"),
            ("RIGIFY", "Rigify", "Rigify's 'head' and 'neck' controls"),
            ("MIXAMO", "Mixamo", "Mixamo's 'mixamorig:Head' and 'mixamorig:Neck'"),
            ("AUTO_RIG_PRO", "Auto-Rig Pro", "Auto-Rig Pro's 'c_head.x' and 'c_neck.x' controls"),
            ("CUSTOM", "Custom Axes", "The axes below: which of the bone's own axes each turn rotates about"),
        ],
        default="AUTO",
        override=OVERRIDABLE,
    )
    axis_pitch: bpy.props.EnumProperty(
        name="Pitch Axis", description="Turning about it raises the chin", items=AXIS_ITEMS, default="-X",
        override=OVERRIDABLE,
    )  # fmt: skip
    axis_yaw: bpy.props.EnumProperty(
        name="Yaw Axis", description="Turning about it turns the face to the viewer's right", items=AXIS_ITEMS,
        default="Y", override=OVERRIDABLE,
    )  # fmt: skip
    axis_roll: bpy.props.EnumProperty(
        name="Roll Axis", description="Turning about it tilts the head toward the viewer's left", items=AXIS_ITEMS,
        default="Z", override=OVERRIDABLE,
    )  # fmt: skip
    use_location: bpy.props.BoolProperty(
        name="Location", description="Also key the head's sideways / up-down moves", default=False,
        override=OVERRIDABLE,
    )  # fmt: skip
    use_scale: bpy.props.BoolProperty(
        name="Scale", description="Also key the head's moves toward / away from the camera as scale", default=False,
        override=OVERRIDABLE,
    )  # fmt: skip
    mouth: bpy.props.EnumProperty(
        name="Mouth",
        description="What Generate Lip Sync drives",
        items=[
            ("NONE", "None", "No lip sync on this character"),
            ("ARKIT", "ARKit Shape Keys", "jawOpen, mouthFunnel, mouthPucker, mouthSmile_L ... (ARKit's 52)"),
            ("OCULUS", "Oculus Visemes", "The 15 visemes sil, PP, FF, TH, DD, kk, CH, SS, nn, RR, aa, E, I, O, U"),
            ("RHUBARB", "Rhubarb Shape Keys", "One shape key per mouth shape A-H and X"),
            ("CUSTOM", "Custom Shape Keys", "Your own table: shape key = sum of factor x source"),
            ("ACTIONS", "Rhubarb Actions", "One action (a pose) per mouth shape A-H and X, placed as NLA strips"),
            ("GP_LAYERS", "Drawings: Layers", "2D: one Grease Pencil layer per mouth shape, shown one at a time"),
            ("GP_FRAMES", "Drawings: Frames", "2D: one drawing per mouth shape on a Grease Pencil layer"),
            ("IMAGES", "Drawings: Images", "2D: an image sequence on a plane, one image per mouth shape"),
        ],
        default="NONE",
        override=OVERRIDABLE,
    )
    mouth_layer: bpy.props.StringProperty(
        name="Mouth Layer",
        description="The Grease Pencil layer holding the mouth drawings (default: a layer named 'mouth', or the only one)",
        override=OVERRIDABLE,
    )
    hold_frames: bpy.props.IntProperty(
        name="Hold",
        description="Each drawn mouth shape shows at least this many frames (2: 'on twos')",
        default=2,
        min=1,
        max=12,
        override=OVERRIDABLE,
    )


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
    "pause_calm": ("pose", "pause_calm"),
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
        keywords.pop("override", None)  # an operator's options are never in a library override
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
