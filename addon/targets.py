"""The two kinds of talking head the operators drive, behind one interface: the portrait plane (Create Talking
Head) and a character bound with Bind Character. ``Head`` is the motion side (its curves, the values a pose
gives them, the pose they give back), ``write_mouth`` the lip sync side; Generate Motion, New Take, Generate
Lip Sync, Make Editable and Bake ask these instead of knowing the target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import bpy

from . import curves, keys, layers, mouth, mouth_targets, rig
from .errors import UserError
from .retarget import Channel, CharacterHead


def is_character(obj: Any) -> bool:
    return obj is not None and bool(getattr(obj.posetalk, "is_character", False))


def is_target(obj: Any) -> bool:
    return rig.is_rig(obj) or is_character(obj)


def find_target(context: bpy.types.Context, name: str = "") -> bpy.types.Object | None:
    """The talking head named ``name``; else the panel's, the active object if it is one, or the scene's first."""
    scene = context.scene
    if name:
        obj = bpy.data.objects.get(name)
        return obj if is_target(obj) else None
    for obj in (scene.posetalk.rig, getattr(context, "active_object", None)):
        if is_target(obj) and scene.objects.get(obj.name) is not None:
            return obj
    return next((o for o in scene.objects if is_target(o)), None)


class Head:
    """The motion side of a talking head."""

    def __init__(self, obj: bpy.types.Object) -> None:
        self.obj = obj
        self.face_height = obj.posetalk.face_height
        self.character = CharacterHead(obj) if is_character(obj) else None

    def channels(self) -> list[Channel]:
        if self.character is not None:
            return self.character.channels()
        fh = self.face_height
        return [
            Channel(p, i, (curves.POSE_CHANNELS.index(c),), curves.tolerance(c, fh),
                    math.degrees(1) if c in ("pitch", "yaw", "roll") else 0.0)
            for p, i, c in curves.POSE_FCURVES
        ]  # fmt: skip

    def dense(self, rows: Sequence[Sequence[float]]) -> list[list[float]]:
        if self.character is not None:
            return self.character.dense(rows)
        fh = self.face_height
        index = curves.POSE_CHANNELS.index
        return [
            [curves.pose_to_channel_value(c, row[index(c)], fh) for row in rows] for _p, _i, c in curves.POSE_FCURVES
        ]

    def pose_at(self, fcurves: Any, frame: float) -> list[float]:
        if self.character is not None:
            return self.character.pose_at(fcurves, frame)
        return curves.pose_at(fcurves, frame, self.face_height)

    def find_fcurves(self) -> Any | None:
        """The curves the motion is written to (a character's: only while PoseTalk's layer plays)."""
        if self.character is not None:
            return layers.layer_fcurves(self.obj, self.obj)
        return curves.find_fcurves(self.obj)

    def ensure_fcurves(self, name: str) -> Any:
        if self.character is not None:
            return layers.ensure_layer(self.obj, self.obj, name)
        if self.obj.rotation_mode != curves.ROTATION_MODE:
            self.obj.rotation_mode = curves.ROTATION_MODE
        return curves.ensure_fcurves(self.obj)

    def style(self, fc: bpy.types.FCurve) -> tuple[float, tuple[float, float] | None] | None:
        """A head curve's key tolerance and bounds (Make Editable); None for curves that are not the head's."""
        for ch in self.channels():
            if (ch.data_path, ch.index) == (fc.data_path, fc.array_index):
                return ch.tol, None
        if self.character is None and fc.data_path.startswith('["'):
            return curves.MOUTH_TOL, (0.0, 1.0)
        return None


# the mouth -----------------------------------------------------------------------------------------------------
def mouth_params(obj: bpy.types.Object) -> dict[str, Any]:
    """Extra ``lips`` parameters a head's mouth needs (a character's eyes: blinks); UserError when its mouth
    cannot be driven (nothing bound, a shape key gone)."""
    if not is_character(obj):
        return {}
    p = obj.posetalk
    if p.mouth == "NONE":
        raise UserError(f"{obj.name} has no mouth bound: bind it with a mouth (Bind Character)")
    found = mouth_targets.resolve(p.mouth, p.mouth_object, p.mouth_layer)
    rows = [(r.target, r.source, r.factor) for r in p.mapping]
    mouth.resolve(p.mouth, rows, found.available, found.what, strict=True)
    return {"blinks": True} if mouth.needs_blinks(rows) else {}


def write_mouth(
    obj: bpy.types.Object, doc: dict[str, Any], first: int, n: int, keep: bool, part: bool = False
) -> dict[str, Any]:
    """Key the head's mouth from a lips document; returns stats (keys, curves, max_deviation or changes).
    ``part``: the frames are a part of the curves (Motion from Video's frame range), whose shape outside them is
    kept (the plane's curves)."""
    if is_character(obj):
        if part:
            raise UserError("a frame range for a character's mouth is not supported yet: turn Frame Range off")
        return mouth_targets.write(obj, doc, first, n, keep)
    import re  # noqa: PLC0415

    channels, frames = doc.get("channels") or [], doc.get("frames") or []
    fcurves = curves.ensure_fcurves(obj)
    total, max_dev, count = 0, 0.0, 0
    for ci, channel in enumerate(channels):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", str(channel)):
            continue
        if channel not in obj.keys():
            obj[channel] = 0.0
            obj.id_properties_ui(channel).update(min=0.0, max=1.0, soft_min=0.0, soft_max=1.0, precision=3)
        fc = curves.ensure_fcurve(fcurves, f'["{channel}"]', 0)
        values = [float(frames[i][ci]) for i in range(n)]
        if part:
            keys.freeze_at(fc, first - 1)
            keys.freeze_at(fc, first + n)
        keyed, dev = keys.write_sparse(
            fc, first, values, curves.MOUTH_TOL, keep_keys=keep, clear_all=not part, bounds=(0.0, 1.0)
        )
        total, max_dev, count = total + keyed, max(max_dev, dev), count + 1
    return {"keys": total, "curves": count, "max_deviation": max_dev}


def mouth_fcurves(obj: bpy.types.Object) -> tuple[Any, Any] | None:
    """(the data, its PoseTalk mouth curves) of a character, when its mouth has a layer playing."""
    if not is_character(obj) or obj.posetalk.mouth in ("NONE", "ACTIONS"):
        return None
    p = obj.posetalk
    try:
        found = mouth_targets.resolve(p.mouth, p.mouth_object, p.mouth_layer)
    except UserError:
        return None
    fcurves = layers.layer_fcurves(found.id_data, obj)
    return (found.id_data, fcurves) if fcurves is not None else None


# make editable, bake -------------------------------------------------------------------------------------------
def _mouth_style(fc: bpy.types.FCurve) -> tuple[float, tuple[float, float]] | None:
    """A mouth curve's tolerance and bounds; None for stepped curves (drawings), which are left as they are."""
    if any(kp.interpolation == "CONSTANT" for kp in fc.keyframe_points):
        return None
    return curves.MOUTH_TOL, (0.0, 1.0)


def thin(obj: bpy.types.Object, tolerance_deg: float) -> tuple[int, int]:
    """Make Editable: thin the generated keys of the head's curves (and a character's mouth layer)."""
    head = Head(obj)
    fcurves = head.find_fcurves()
    if fcurves is None:
        raise UserError("no PoseTalk curves to thin: generate motion first")
    before, after = keys.thin(fcurves, tolerance_deg, head.style)
    mouth_layer = mouth_fcurves(obj)
    if mouth_layer is not None:
        b, a = keys.thin(mouth_layer[1], tolerance_deg, _mouth_style)
        before, after = before + b, after + a
    return before, after


def _key_span(fcurves: Any) -> tuple[int, int] | None:
    frames = [kp.co.x for fc in fcurves for kp in fc.keyframe_points]
    return (round(min(frames)), round(max(frames))) if frames else None


def _bake_style(style: Any, fc: bpy.types.FCurve) -> tuple[float, tuple[float, float] | None] | None:
    """How a layer curve is baked: its own tolerance, stepped keys for a stepped curve (None), else fine keys."""
    how = style(fc)
    if how is not None:
        return how
    return None if any(kp.interpolation == "CONSTANT" for kp in fc.keyframe_points) else (BAKE_TOL, None)


BAKE_TOL = 1e-3  # a curve the animator added to the layer: followed closely


def bake_character(
    context: bpy.types.Context, obj: bpy.types.Object, name: str
) -> tuple[bpy.types.Action | None, list[bpy.types.Action], int]:
    """Bake a character: its head layer and its mouth (layer or strips), each merged with what plays below into
    one plain action on the data it animates. Returns the head's baked action (None when only the mouth was
    baked), every baked action and the number of keys baked."""
    head = Head(obj)
    work: dict[Any, dict[tuple[str, int], Any]] = {}
    spans: dict[Any, tuple[int, int]] = {}

    def add(id_data: Any, channels: dict[tuple[str, int], Any], span: tuple[int, int] | None) -> None:
        if span is None or not channels:
            return
        work.setdefault(id_data, {}).update({c: how for c, how in channels.items() if c not in work[id_data]})
        a, b = spans.get(id_data, span)
        spans[id_data] = (min(a, span[0]), max(b, span[1]))

    head_fcurves = head.find_fcurves()
    if head_fcurves is not None:
        add(obj, {(fc.data_path, fc.array_index): _bake_style(head.style, fc) for fc in head_fcurves},
            _key_span(head_fcurves))  # fmt: skip
    mouth_layer = mouth_fcurves(obj)
    if mouth_layer is not None:
        add(mouth_layer[0], {(fc.data_path, fc.array_index): _bake_style(_mouth_style, fc) for fc in mouth_layer[1]},
            _key_span(mouth_layer[1]))  # fmt: skip
    strips = mouth_targets.generated_strips(obj)
    if strips is not None:
        add(strips[0], dict.fromkeys(strips[1]), strips[2])  # actions switch: stepped keys
    if not work:
        raise UserError(f"nothing to bake on {obj.name}: generate motion or lip sync first")
    head_action, baked, total = None, [], 0
    for id_data, channels in work.items():
        label = name if id_data == obj else f"{name} ({id_data.name})"
        action, count = layers.bake(
            context, id_data, label, spans[id_data], list(channels), lambda p, i, c=channels: c[(p, i)]
        )
        action[layers.OWNER] = obj.name
        head_action = action if id_data == obj else head_action
        baked.append(action)
        total += count
    if strips is not None:
        mouth_targets.mute_strips(obj)
    return head_action, baked, total
