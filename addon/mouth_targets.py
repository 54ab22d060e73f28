"""Where a character's lip sync goes, one kind of mouth each: shape-key values (sparse Bezier keys), drawn
mouths switched per viseme with stepped keys (Grease Pencil layers' opacity, a Grease Pencil layer's drawings
through a Time Offset modifier, an image sequence's frame on a plane), or actions placed as NLA strips.

Keys go into PoseTalk's layer on the data they animate (``layers``); the actions' strips go on their own NLA
track ``MOUTH_TRACK``, where strips the animator adds or renames are kept (pins).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import bpy

from . import compat, keys, layers, mouth
from .curves import MOUTH_TOL
from .errors import UserError

MOUTH_TRACK = "PoseTalk Mouth"  # NLA track of the actions' strips, and the Time Offset modifier's name
STRIP_PREFIX = "PoseTalk "  # generated strips; any other strip on the track is the animator's


@dataclass
class Resolved:
    """A mouth made concrete: the data its keys go on, the targets it can show, and how to key a target."""

    id_data: Any
    available: list[str]
    what: str


def _esc(name: str) -> str:
    return bpy.utils.escape_identifier(name)


def _gp_layer(obj: bpy.types.Object, wanted: str) -> Any:
    layers_ = list(obj.data.layers)
    if wanted:
        found = next((la for la in layers_ if compat.gp_layer_name(la) == wanted), None)
        if found is None:
            raise UserError(f"{obj.name} has no Grease Pencil layer {wanted!r}")
        return found
    named = mouth.find_name("mouth", [compat.gp_layer_name(la) for la in layers_])
    if named is not None:
        return next(la for la in layers_ if compat.gp_layer_name(la) == named)
    if len(layers_) == 1:
        return layers_[0]
    raise UserError(f"{obj.name} has {len(layers_)} layers: name the one with the mouth drawings (Mouth Layer)")


def image_node(obj: bpy.types.Object) -> tuple[bpy.types.Material, Any]:
    """The material and Image Texture node showing an image sequence on ``obj``."""
    for slot in obj.material_slots:
        mat = slot.material
        if mat is None or mat.node_tree is None:
            continue
        for node in mat.node_tree.nodes:
            if node.type == "TEX_IMAGE" and node.image is not None and node.image.source == "SEQUENCE":
                return mat, node
    raise UserError(f"{obj.name} shows no image sequence: give its material an Image Texture with a sequence")


def sequence_numbers(image: bpy.types.Image) -> list[str]:
    """The frame numbers of an image sequence's files on disk, in order."""
    path = bpy.path.abspath(image.filepath, library=image.library)
    folder, name = os.path.split(path)
    m = re.match(r"^(.*?)(\d+)(\.[^.]*)$", name)
    if m is None or not os.path.isdir(folder):
        raise UserError(f"the image sequence {image.name!r} has no numbered files at {path}")
    pattern = re.compile(re.escape(m.group(1)) + r"(\d+)" + re.escape(m.group(3)) + "$")
    found = sorted({int(x.group(1)) for f in os.listdir(folder) if (x := pattern.match(f))})
    return [str(n) for n in found]


def _actions_id(obj: bpy.types.Object, actions: list[bpy.types.Action]) -> Any:
    """What the mouth actions animate: the object, or its shape keys when all their curves are shape keys'."""
    paths = [fc.data_path for a in actions for _slot, fcs in compat.channelbags(a) for fc in fcs]
    key = obj.data.shape_keys if obj.type == "MESH" and obj.data is not None else None
    if paths and key is not None and all(p.startswith("key_blocks") for p in paths):
        return key
    return obj


def resolve(mode: str, obj: bpy.types.Object | None, layer: str = "") -> Resolved:
    """The data ``mode`` keys on ``obj`` and the names of what it can show; UserError when ``obj`` has none."""
    if obj is None:
        raise UserError("no mouth object: pick the mesh, Grease Pencil object or image plane with the mouth")
    if mode in mouth.SHAPE_KEY_MODES:
        key = obj.data.shape_keys if obj.type == "MESH" else None
        if key is None or len(key.key_blocks) < 2:
            raise UserError(f"{obj.name} has no shape keys: the {mode} mouth needs shape keys on a mesh")
        return Resolved(key, [kb.name for kb in key.key_blocks[1:]], f"the shape keys of {obj.name}")
    if mode in ("GP_LAYERS", "GP_FRAMES"):
        if obj.type != compat.GP_OBJECT:
            raise UserError(f"{obj.name} is not a Grease Pencil object: drawn mouths need one")
        if mode == "GP_LAYERS":
            names = [compat.gp_layer_name(la) for la in obj.data.layers]
            return Resolved(obj.data, names, f"the layers of {obj.name}")
        gp_layer = _gp_layer(obj, layer)
        numbers = [str(f.frame_number) for f in gp_layer.frames]
        return Resolved(obj, numbers, f"the drawings of layer {compat.gp_layer_name(gp_layer)!r}")
    if mode == "IMAGES":
        if obj.type != "MESH":
            raise UserError(f"{obj.name} is not a mesh: the image sequence goes on a plane")
        mat, node = image_node(obj)
        return Resolved(mat.node_tree, sequence_numbers(node.image), f"the images of {node.image.name!r}")
    if mode == "ACTIONS":
        return Resolved(obj, [a.name for a in bpy.data.actions if not a.get(layers.OWNER)], "the file's actions")
    raise UserError(f"unknown mouth {mode!r}")


def default_rows(mode: str, found: Resolved) -> list[tuple[str, str, float]]:
    """The preset's table for ``mode`` (drawings by number: in the order A, B, ... X)."""
    if mode in ("GP_FRAMES", "IMAGES"):
        return mouth.ordered_rows(found.available)
    if mode not in mouth.PRESETS:
        raise UserError("the custom mapping is empty: add rows in the panel or pass mapping='{...}'")
    return list(mouth.PRESETS[mode])


# writing -------------------------------------------------------------------------------------------------------
def _path(mode: str, obj: bpy.types.Object, target: str) -> str:
    if mode in mouth.SHAPE_KEY_MODES:
        return f'key_blocks["{_esc(target)}"].value'
    if mode == "GP_LAYERS":
        return compat.gp_layer_path(next(la for la in obj.data.layers if compat.gp_layer_name(la) == target), "opacity")
    raise ValueError(mode)


def write(owner: bpy.types.Object, doc: dict[str, Any], first: int, n: int, keep: bool) -> dict[str, Any]:
    """Key ``owner``'s mouth from a lips document: ``n`` frames from scene frame ``first``. Returns stats."""
    p = owner.posetalk
    mode, obj = p.mouth, p.mouth_object
    found = resolve(mode, obj, p.mouth_layer)
    rows = [(r.target, r.source, r.factor) for r in p.mapping]
    rows, _missing = mouth.resolve(mode, rows, found.available, found.what, strict=True)
    sources = mouth.sources_of(doc, n)
    if mode in mouth.SHAPE_KEY_MODES:
        fcurves = layers.ensure_layer(found.id_data, owner, f"PoseTalk Lips {owner.name}", blend="ADD")
        total, dev = 0, 0.0
        values = mouth.mixed(rows, sources, n)
        for target, dense in values.items():
            fc = fcurves.find(_path(mode, obj, target)) or fcurves.new(_path(mode, obj, target))
            count, d = keys.write_sparse(fc, first, dense, MOUTH_TOL, keep_keys=keep, bounds=(0.0, 1.0))
            total, dev = total + count, max(dev, d)
        layers.ensure_rest(found.id_data, owner, [_path(mode, obj, t) for t in values])
        return {"keys": total, "curves": len(values), "max_deviation": dev}
    shown = mouth.stepped_targets(rows, mouth.dominant_shapes(sources, n, p.hold_frames))
    if mode == "ACTIONS":
        return _place_strips(owner, obj, shown, first, keep)
    if mode == "GP_LAYERS":
        fcurves = layers.ensure_layer(found.id_data, owner, f"PoseTalk Lips {owner.name}", blend="REPLACE")
        total = 0
        for target in dict.fromkeys(t for t, _s, _f in rows):
            fc = fcurves.find(_path(mode, obj, target)) or fcurves.new(_path(mode, obj, target))
            total += keys.write_steps(fc, first, [1.0 if s == target else 0.0 for s in shown], keep_keys=keep)
        return {"keys": total, "curves": len(set(t for t, _s, _f in rows)), "changes": _changes(shown)}
    if mode == "GP_FRAMES":
        gp_layer = _gp_layer(obj, p.mouth_layer)
        _mod, path = compat.gp_time_modifier(obj, MOUTH_TRACK, compat.gp_layer_name(gp_layer))
        # the object's layer is the head's too: it blends with Combine, so the offset gets a rest of 0 below it
        fcurves = layers.ensure_layer(obj, owner, f"PoseTalk Lips {owner.name}")
        layers.ensure_rest(obj, owner, [path])
        values = [float(s) for s in shown]
    else:  # IMAGES
        mat, node = image_node(obj)
        user = node.image_user
        user.frame_duration, user.frame_start, user.use_cyclic, user.use_auto_refresh = 1, 1, True, True
        path = f'nodes["{_esc(node.name)}"].image_user.frame_offset'
        fcurves = layers.ensure_layer(mat.node_tree, owner, f"PoseTalk Lips {owner.name}", blend="REPLACE")
        values = [float(int(s) - 1) for s in shown]  # a one-frame cyclic sequence shows file 1 + offset
    fc = fcurves.find(path) or fcurves.new(path)
    return {"keys": keys.write_steps(fc, first, values, keep_keys=keep), "curves": 1, "changes": _changes(shown)}


def _changes(shown: list[Any]) -> int:
    return sum(1 for a, b in zip(shown, shown[1:]) if a != b)


def _place_strips(owner: bpy.types.Object, obj: bpy.types.Object, shown: list[Any], first: int, keep: bool) -> dict:
    """One NLA strip per run of a shape, on the mouth track: the action's pose held for the run's length."""
    actions = {name: bpy.data.actions[name] for name in dict.fromkeys(s for s in shown if s)}
    id_data = _actions_id(obj, list(actions.values()))
    ad = id_data.animation_data or id_data.animation_data_create()
    track = ad.nla_tracks.get(MOUTH_TRACK) or ad.nla_tracks.new()
    track.name = MOUTH_TRACK
    pins = []
    for strip in list(track.strips):
        if strip.name.startswith(STRIP_PREFIX) or not keep:
            track.strips.remove(strip)
        else:
            pins.append((strip.frame_start, strip.frame_end))
    placed, i, n = 0, 0, len(shown)
    while i < n:
        j = i
        while j < n and shown[j] == shown[i]:
            j += 1
        start, end = first + i, first + j
        for a, b in pins:  # the animator's strips win: the run gives way
            if a < end and b > start:
                start, end = (b, end) if a <= start else (start, min(end, a))
        if shown[i] and end - start >= 1:
            action = actions[shown[i]]
            strip = track.strips.new(f"{STRIP_PREFIX}{shown[i]}", int(start), action)
            slot = next((s for s in getattr(action, "slots", ()) if s.target_id_type == id_data.id_type), None)
            compat.set_strip_slot(strip, slot)
            a0, a1 = strip.action_frame_start, strip.action_frame_end
            if a1 - a0 < 1e-3:
                strip.action_frame_end = a1 = a0 + 1.0
            strip.extrapolation, strip.blend_type = "NOTHING", "REPLACE"
            strip.scale = (end - start) / (a1 - a0)
            placed += 1
        i = j
    return {"keys": placed, "curves": 0, "changes": _changes(shown), "strips": placed}


def _strips_track(owner: bpy.types.Object) -> tuple[Any, Any] | None:
    p = owner.posetalk
    if p.mouth != "ACTIONS" or p.mouth_object is None:
        return None
    actions = [bpy.data.actions[r.target] for r in p.mapping if r.target in bpy.data.actions]
    id_data = _actions_id(p.mouth_object, actions)
    ad = id_data.animation_data
    track = ad.nla_tracks.get(MOUTH_TRACK) if ad is not None else None
    return (id_data, track) if track is not None and len(track.strips) and not track.mute else None


def generated_strips(owner: bpy.types.Object) -> tuple[Any, list[tuple[str, int]], tuple[int, int]] | None:
    """(the data, the channels the mouth track's actions animate, its frames) when the track plays."""
    found = _strips_track(owner)
    if found is None:
        return None
    id_data, track = found
    channels: dict[tuple[str, int], None] = {}
    for strip in track.strips:
        slot = compat.strip_slot(strip)
        for bag_slot, fcurves in compat.channelbags(strip.action):
            if slot is None or bag_slot == slot:
                channels.update(dict.fromkeys((fc.data_path, fc.array_index) for fc in fcurves))
    first = min(round(s.frame_start) for s in track.strips)
    last = max(round(s.frame_end) for s in track.strips) - 1
    return id_data, list(channels), (first, last)


def mute_strips(owner: bpy.types.Object) -> None:
    """After a bake the mouth track's strips are in the baked action: the track stops playing."""
    found = _strips_track(owner)
    if found is not None:
        found[1].mute = True
