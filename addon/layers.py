"""PoseTalk's own layer on a character's data (the armature or object, its shape keys, its drawings): an action
of ours as the active action, blended over what plays below it, the character's own action pushed down into an
NLA track so it keeps playing exactly as before. The head's layer blends with Combine (turns multiply with,
moves add to the character's own), shape keys with Add (Blender's Combine drops a shape-key value keyed below),
drawings with Replace (one drawing shows; a drawing switched on the head object itself blends with the head).
Bake merges the layer and what is below it into one plain action; the layer stays in the file as a take.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import bpy

from . import compat, keys

BASE_TRACK = "PoseTalk: own animation"  # the NLA track the character's own action was pushed down into
REST_TRACK = "PoseTalk: rest"  # shape keys at 0 where nothing below animates them (see ensure_rest)
LAYER = "posetalk_layer"  # on our layer actions (takes and mouth layers)
OWNER = "posetalk_rig"  # the bound object's name, on every action PoseTalk made for it


def is_ours(action: bpy.types.Action | None, owner: bpy.types.Object) -> bool:
    """A PoseTalk layer (or take) of ``owner``; a bake is not: it is the character's own animation now."""
    return action is not None and action.get(OWNER) == owner.name and not action.get("posetalk_baked")


def push_down(ad: bpy.types.AnimData) -> bpy.types.NlaTrack:
    """Move the active action onto a new NLA track on top, playing as it did (blending, influence, hold)."""
    action, slot = ad.action, compat.action_slot(ad)
    blend, influence, extrapolation = ad.action_blend_type, ad.action_influence, ad.action_extrapolation
    track = ad.nla_tracks.new()
    track.name = BASE_TRACK
    start = float(action.frame_range[0])
    strip = track.strips.new(action.name, int(start), action)
    compat.set_strip_slot(strip, slot)
    if strip.frame_start != start:  # a fractional first key: the strip starts where the action does
        strip.frame_start_ui = start
    strip.blend_type, strip.extrapolation = blend, extrapolation
    if influence < 1.0:
        strip.use_animated_influence = True
        strip.influence = influence
    ad.action = None
    return track


def ensure_layer(id_data: bpy.types.ID, owner: bpy.types.Object, name: str, blend: str = "COMBINE") -> Any:
    """The F-curves of PoseTalk's layer on ``id_data`` (created as needed; the character's own active action
    is pushed down first)."""
    ad = id_data.animation_data or id_data.animation_data_create()
    if ad.action is not None and not is_ours(ad.action, owner):
        push_down(ad)
    if ad.action is None:
        action = bpy.data.actions.new(name)
        action[OWNER] = owner.name
        action[LAYER] = True
        ad.action = action
    if ad.action_blend_type != blend:
        ad.action_blend_type = blend
    ad.action_influence = 1.0
    slot = compat.ensure_action_slot(ad, ad.action, id_data.name)
    return compat.action_fcurves(ad.action, slot, create=True)


def ensure_rest(id_data: bpy.types.ID, owner: bpy.types.Object, paths: list[str]) -> None:
    """Under an NLA stack a value no strip animates starts from its default (a shape key's is 1), so a layer
    that adds to it would sit on that. A strip of ours keys ``paths`` at 0 where nothing else animates them
    (what the character animates stays its own)."""
    ad = id_data.animation_data
    others = [t for t in ad.nla_tracks if t.name != REST_TRACK] if ad is not None else []
    animated = {fc.data_path for t in others for st in t.strips if st.action is not None
                for _slot, fcs in compat.channelbags(st.action) for fc in fcs}  # fmt: skip
    rest = [p for p in paths if p not in animated] if others else []
    track = ad.nla_tracks.get(REST_TRACK) if ad is not None else None
    if track is not None:
        old = [st.action for st in track.strips]
        ad.nla_tracks.remove(track)
        for action in old:
            if action is not None and not action.users:
                bpy.data.actions.remove(action)
    if not rest:
        return
    action = bpy.data.actions.new(f"PoseTalk rest {id_data.name}")
    action[OWNER] = owner.name
    slot = compat.new_slot(action, id_data)
    fcurves = compat.action_fcurves(action, slot, create=True)
    for path in rest:
        fcurves.new(path).keyframe_points.insert(0, 0.0)
    track = ad.nla_tracks.new()
    track.name = REST_TRACK
    strip = track.strips.new(action.name, 0, action)
    compat.set_strip_slot(strip, slot)
    strip.extrapolation = "HOLD"


def layer_fcurves(id_data: bpy.types.ID | None, owner: bpy.types.Object) -> Any | None:
    """The F-curves of PoseTalk's layer on ``id_data`` when it is the active action, else None."""
    ad = getattr(id_data, "animation_data", None)
    if ad is None or not is_ours(ad.action, owner):
        return None
    return compat.action_fcurves(ad.action, compat.action_slot(ad))


def base_tracks(ad: bpy.types.AnimData | None) -> list[bpy.types.NlaTrack]:
    return [t for t in ad.nla_tracks if t.name.startswith(BASE_TRACK)] if ad is not None else []


def assign(id_data: bpy.types.ID, action: bpy.types.Action) -> None:
    """Play ``action`` on ``id_data``: a layer blends over the character's own animation (the newest pushed
    down), a bake replaces it."""
    ad = id_data.animation_data or id_data.animation_data_create()
    baked = bool(action.get("posetalk_baked"))
    ad.action = action
    compat.ensure_action_slot(ad, action, id_data.name)
    ad.action_blend_type = "REPLACE" if baked else "COMBINE"
    tracks = base_tracks(ad)
    for track in tracks:
        track.mute = baked or track != tracks[-1]


def _evaluate(id_data: bpy.types.ID, path: str, index: int) -> float:
    value = id_data.path_resolve(path)
    return float(value[index]) if hasattr(value, "__len__") else float(value)


def bake(
    context: bpy.types.Context,
    id_data: bpy.types.ID,
    name: str,
    frames: tuple[int, int],
    channels: Sequence[tuple[str, int]],
    style: Callable[[str, int], tuple[float, tuple[float, float] | None] | None],
) -> tuple[bpy.types.Action, int]:
    """Merge what plays on ``channels`` of ``id_data`` over ``frames`` (first, last) into one plain action: a
    copy of the character's own action (else a new one) whose curves on those channels are replaced, inside
    the frames, by keys that follow the evaluated animation (``style(path, index)``: (tolerance, bounds) for
    sparse Bezier keys, None for stepped ones). The copy replaces everything below it; the own action's track
    is muted. Returns the action and its key count on the baked channels."""
    scene = context.scene
    ad = id_data.animation_data
    first, last = frames
    saved = scene.frame_current, scene.frame_subframe
    dense: dict[tuple[str, int], list[float]] = {c: [] for c in channels}
    try:
        for f in range(first, last + 1):
            scene.frame_set(f)
            for path, index in channels:
                dense[(path, index)].append(_evaluate(id_data, path, index))
    finally:
        scene.frame_set(saved[0], subframe=saved[1])
    playing = [t for t in base_tracks(ad) if not t.mute]
    base = next((s for t in reversed(playing) for s in t.strips if s.action is not None), None)
    if base is not None:
        action = base.action.copy()
        slot = compat.strip_slot(base)
        slot = next((s for s in action.slots if s.identifier == slot.identifier), None) if slot is not None else None
    else:
        action, slot = bpy.data.actions.new(name), None
    action.name = name
    for key in (keys.RECORD, "posetalk_take", "posetalk_seed", "posetalk_prompt", LAYER):
        if key in action:
            del action[key]
    ad.action = action
    if slot is not None:
        ad.action_slot = slot
    fcurves = compat.action_fcurves(action, compat.ensure_action_slot(ad, action, id_data.name), create=True)
    count = 0
    for (path, index), values in dense.items():
        fc = fcurves.find(path, index=index) or fcurves.new(path, index=index)
        how = style(path, index)
        if how is None:
            count += keys.write_steps(fc, first, values, keep_keys=False, clear_all=False)
        else:
            count += keys.write_sparse(fc, first, values, how[0], keep_keys=False, clear_all=False, bounds=how[1])[0]
        for kp in fc.keyframe_points:
            kp.type = "KEYFRAME"
    if keys.RECORD in action:
        del action[keys.RECORD]
    action["posetalk_baked"] = True
    ad.action_blend_type = "REPLACE"
    ad.action_influence = 1.0
    for track in base_tracks(ad):
        track.mute = True
    return action, count
