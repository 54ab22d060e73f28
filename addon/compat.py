"""Every difference between the Blender versions PoseTalk supports (4.2 LTS to 5.0), in one place.

Blender 5.0 names the sequencer's strips ``strips`` (4.x: ``sequences``), can show another scene in the
Sequencer (``workspace.sequencer_scene``), picks video output with ``image_settings.media_type`` and turns
materials' nodes on by itself. Blender 4.2 has EEVEE Next's render method beside the old blend mode. 4.4 brought layered actions: an action has slots, layers, strips and
channelbags that hold the F-curves (4.2/4.3: ``action.fcurves``); NLA strips play a slot. 4.3 brought Grease
Pencil 3 (its own data type, layer names and modifiers). Blender 4.2's modules may lack Audaspace.
Nothing else in the add-on checks a version or probes for an attribute that one version lacks.
"""

from __future__ import annotations

from typing import Any

import bpy

# sequencer -----------------------------------------------------------------------------------------------------
STRIPS = "strips" if bpy.app.version >= (5, 0, 0) else "sequences"
ALL_STRIPS = STRIPS + "_all"  # the collection of every strip, inside meta strips too (for prop_search)


def strips(scene: bpy.types.Scene, create: bool = False) -> Any:
    """The scene's top-level strips (``strips`` in 5.0, ``sequences`` in 4.x); None without a sequence editor
    (``create``: make one)."""
    sed = scene.sequence_editor_create() if create else scene.sequence_editor
    return getattr(sed, STRIPS) if sed is not None else None


def all_strips(scene: bpy.types.Scene) -> list[Any]:
    """Every strip of the scene, inside meta strips too."""
    sed = scene.sequence_editor
    return list(getattr(sed, ALL_STRIPS)) if sed is not None else []


HAS_SEQUENCER_SCENE = bpy.app.version >= (5, 0, 0)  # a workspace's Sequencer may show another scene


def sequencer_scene(context: bpy.types.Context) -> bpy.types.Scene | None:
    """The scene the workspace's Sequencer shows (5.0); None where the Sequencer always shows the window's."""
    workspace = getattr(context, "workspace", None)
    return workspace.sequencer_scene if HAS_SEQUENCER_SCENE and workspace is not None else None


def new_text_strip(scene: bpy.types.Scene, name: str, text: str, channel: int, start: int, end: int) -> Any:
    """A text (subtitle) strip from frame ``start`` to ``end`` (5.0 takes a length, 4.x an end frame)."""
    coll = strips(scene, create=True)
    if bpy.app.version >= (5, 0, 0):
        strip = coll.new_effect(name, "TEXT", channel, start, length=end - start)
    else:
        strip = coll.new_effect(name, "TEXT", channel, start, frame_end=end)
    strip.text = text
    return strip


HAS_SOUND = bool(getattr(bpy.app.build_options, "audaspace", True))  # 4.2 modules are built without it


# output --------------------------------------------------------------------------------------------------------
def set_video_output(render: bpy.types.RenderSettings, codec: str = "H264") -> None:
    """Render to an MPEG-4 video with AAC sound (5.0 first asks for the video media type)."""
    if hasattr(render.image_settings, "media_type"):
        render.image_settings.media_type = "VIDEO"
    render.image_settings.file_format = "FFMPEG"
    render.ffmpeg.format = "MPEG4"
    render.ffmpeg.codec = codec
    render.ffmpeg.audio_codec = "AAC"


# materials -----------------------------------------------------------------------------------------------------
def new_node_material(name: str) -> bpy.types.Material:
    """A material with a node tree (5.0 always has one; 4.x must be asked)."""
    mat = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True
    return mat


def set_alpha_blend(mat: bpy.types.Material) -> None:
    """Blend the material's alpha over what is behind it (EEVEE Next's render method; older blend mode)."""
    if hasattr(mat, "surface_render_method"):
        mat.surface_render_method = "BLENDED"
    if hasattr(mat, "blend_method"):
        try:
            mat.blend_method = "BLEND"
        except TypeError:  # 4.2+ keeps the property but may refuse the legacy value
            pass


# actions -------------------------------------------------------------------------------------------------------
LAYERED_ACTIONS = bpy.app.version >= (4, 4, 0)


def action_fcurves(action: bpy.types.Action, slot: Any, create: bool = False) -> Any | None:
    """The F-curves ``slot`` animates in ``action`` (its channelbag; 4.2/4.3: ``action.fcurves``).

    ``create`` makes the layer, keyframe strip and channelbag when missing; otherwise None when there is none.
    """
    if not LAYERED_ACTIONS:
        return action.fcurves
    if slot is None:
        return None
    if create:
        layer = action.layers[0] if action.layers else action.layers.new("Layer")
        strip = layer.strips[0] if layer.strips else layer.strips.new(type="KEYFRAME")
        return strip.channelbag(slot, ensure=True).fcurves
    if not action.layers or not action.layers[0].strips:
        return None
    bag = action.layers[0].strips[0].channelbag(slot)
    return bag.fcurves if bag is not None else None


def action_slot(anim_data: bpy.types.AnimData) -> Any | None:
    """The slot the animation data uses (None before 4.4, where actions have no slots)."""
    return anim_data.action_slot if LAYERED_ACTIONS else None


def ensure_action_slot(anim_data: bpy.types.AnimData, action: bpy.types.Action, name: str) -> Any | None:
    """Give ``anim_data`` a slot of ``action``: the one it uses, an unused slot for its kind of ID (object,
    shape keys, Grease Pencil, node tree ...), or a new one."""
    if not LAYERED_ACTIONS:
        return None
    if anim_data.action_slot is None:
        kind = anim_data.id_data.id_type
        slot = next((s for s in action.slots if s.target_id_type == kind and not s.users()), None)
        if slot is None:
            slot = action.slots.new(id_type=kind, name=name)
        anim_data.action_slot = slot
    return anim_data.action_slot


def new_slot(action: bpy.types.Action, id_data: bpy.types.ID) -> Any | None:
    """A new slot of ``action`` for ``id_data`` (None before 4.4)."""
    return action.slots.new(id_type=id_data.id_type, name=id_data.name) if LAYERED_ACTIONS else None


def set_strip_slot(strip: bpy.types.NlaStrip, slot: Any | None) -> None:
    """Make an NLA strip play ``slot`` of its action (4.4+; older actions have no slots)."""
    if LAYERED_ACTIONS and slot is not None:
        strip.action_slot = slot


def strip_slot(strip: bpy.types.NlaStrip) -> Any | None:
    """The slot an NLA strip plays (None before 4.4)."""
    return strip.action_slot if LAYERED_ACTIONS else None


def channelbags(action: bpy.types.Action) -> list[tuple[Any, Any]]:
    """(slot, F-curves) of every slot of ``action`` that has curves ((None, fcurves) before 4.4)."""
    if not LAYERED_ACTIONS:
        return [(None, action.fcurves)]
    if not action.layers or not action.layers[0].strips:
        return []
    strip = action.layers[0].strips[0]
    return [(bag.slot, bag.fcurves) for bag in strip.channelbags]


# grease pencil -------------------------------------------------------------------------------------------------
GP_V3 = bpy.app.version >= (4, 3, 0)  # Grease Pencil 3: new data type, its layers' names and modifiers
GP_OBJECT = "GREASEPENCIL" if GP_V3 else "GPENCIL"  # Object.type of a Grease Pencil object


def gp_data() -> Any:
    """The Grease Pencil data-blocks (``bpy.data.grease_pencils_v3`` in 4.3-4.5, ``grease_pencils`` since 5.0
    and in 4.2, where that is the legacy type)."""
    return getattr(bpy.data, "grease_pencils_v3", None) or bpy.data.grease_pencils


def gp_layer_name(layer: Any) -> str:
    return layer.name if GP_V3 else layer.info


def gp_layer_path(layer: Any, prop: str) -> str:
    """The data path of a layer property on the Grease Pencil data, e.g. ``layers["A"].opacity``."""
    return f'layers["{bpy.utils.escape_identifier(gp_layer_name(layer))}"].{prop}'


def gp_time_modifier(obj: bpy.types.Object, name: str, layer: str) -> tuple[Any, str]:
    """A Time Offset modifier on ``obj`` (made when missing) that shows a fixed drawing of ``layer`` only, and
    the data path of its animatable ``offset`` (the frame number of the drawing shown)."""
    mods = obj.modifiers if GP_V3 else obj.grease_pencil_modifiers
    mod = mods.get(name) or mods.new(name, "GREASE_PENCIL_TIME" if GP_V3 else "GP_TIME")
    mod.mode = "FIX"
    if GP_V3:
        mod.tree_node_filter = layer
    else:
        mod.layer = layer
    return mod, f'{"modifiers" if GP_V3 else "grease_pencil_modifiers"}["{name}"].offset'
