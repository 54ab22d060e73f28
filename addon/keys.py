"""Sparse, editable keys and the animator's pins on PoseTalk's F-curves.

A dense per-frame curve is reduced to a few Bezier keys by inserting a key at the worst frame of every segment
that deviates more than a tolerance, measured with ``FCurve.evaluate`` (the curve exactly as Blender evaluates
it), with handles fitted to the dense curve's slopes. Generated keys have the keyframe type 'GENERATED'; every
other type is an animator's key, i.e. a pin, and so is a generated key the animator has moved or re-keyed (the
action records where the add-on left its keys).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from typing import Any

import bpy

from .curves import ROT_TOL_DEG

GENERATED = "GENERATED"  # the keyframe type of the keys PoseTalk writes


# sparse keys ---------------------------------------------------------------------------------------------------
def _insert(fc: bpy.types.FCurve, frame: float, value: float) -> bpy.types.Keyframe:
    kp = fc.keyframe_points.insert(frame, value, options={"FAST"}, keyframe_type=GENERATED)
    kp.interpolation = "BEZIER"
    kp.handle_left_type = kp.handle_right_type = "AUTO_CLAMPED"
    return kp


def _extrema(values: Sequence[float], tol: float) -> list[int]:
    """Indices of the turning points of ``values`` that stand out by more than ``tol`` (zig-zag with hysteresis)."""
    out: list[int] = []
    if len(values) < 3:
        return out
    hi = lo = 0  # candidate maximum and minimum since the last turning point
    direction = 0
    for i in range(1, len(values)):
        v = values[i]
        if v > values[hi]:
            hi = i
        if v < values[lo]:
            lo = i
        if direction >= 0 and values[hi] - v > tol:  # came down from a peak
            if direction > 0 or hi > 0:
                out.append(hi)
            direction, lo = -1, i
        elif direction <= 0 and v - values[lo] > tol:  # came up from a trough
            if direction < 0 or lo > 0:
                out.append(lo)
            direction, hi = 1, i
    return sorted(set(out))


def _fit_handles(
    fc: bpy.types.FCurve,
    first_frame: int,
    values: Sequence[float],
    bounds: tuple[float, float] | None = None,
    near: float | None = None,
) -> None:
    """Give every generated key the dense curve's slope (aligned handles a third of the way to its
    neighbours): a cubic Hermite fit, far closer than automatic handles for the same keys. With ``bounds``
    the slopes are flattened so that every handle stays inside them; a Bezier curve stays inside the hull of
    its keys and handles, so the curve never leaves the channel's range (a mouth never opens below 0).
    ``near``: only the keys around this frame (two on each side), after a local change. Pins with automatic or
    aligned handles get the slope too (the motion flows through them without a kink); their frame and value stay.
    """
    n = len(values)
    points = fc.keyframe_points
    xs = [kp.co.x for kp in points]
    keys = range(len(points))
    if near is not None:
        at = bisect.bisect_left(xs, near)
        keys = range(max(0, at - 2), min(len(points), at + 3))
    for k in keys:
        kp = points[k]
        i = round(kp.co.x) - first_frame
        if not 0 <= i < n or (kp.type != GENERATED and not _fits_pin(kp)):
            continue
        if 0 < i < n - 1:
            slope = (values[i + 1] - values[i - 1]) / 2.0
        elif n > 1:
            slope = values[1] - values[0] if i == 0 else values[-1] - values[-2]
        else:
            slope = 0.0
        left = (xs[k] - xs[k - 1]) / 3.0 if k > 0 else 1.0
        right = (xs[k + 1] - xs[k]) / 3.0 if k + 1 < len(xs) else 1.0
        if bounds is not None and slope:
            lo, hi = bounds
            y = kp.co.y
            room = (hi - y) if slope > 0 else (y - lo)  # the right handle rises with the slope ...
            room_left = (y - lo) if slope > 0 else (hi - y)  # ... the left one falls
            limit = min(room / right, room_left / left) if right > 0 and left > 0 else 0.0
            slope = math.copysign(min(abs(slope), max(0.0, limit)), slope)
        kp.handle_left_type = kp.handle_right_type = "ALIGNED"
        kp.handle_left = (kp.co.x - left, kp.co.y - slope * left)
        kp.handle_right = (kp.co.x + right, kp.co.y + slope * right)


FIT_PIN_HANDLES = {"AUTO", "AUTO_CLAMPED", "ALIGNED"}


def _fits_pin(kp: bpy.types.Keyframe) -> bool:
    """A pin whose handles follow the regenerated motion: automatic or aligned ones (the pin's frame and value
    never change). Free and vector handles are the animator's own shape and stay."""
    return kp.handle_left_type in FIT_PIN_HANDLES and kp.handle_right_type in FIT_PIN_HANDLES


RECORD = "posetalk_generated_keys"  # on the action: where each curve's generated keys were left


def _record_name(fc: bpy.types.FCurve) -> str:
    return f"{fc.data_path}[{fc.array_index}]"


def _remember(fc: bpy.types.FCurve) -> None:
    """Record (frame, value) of the generated keys of ``fc`` on its action."""
    action = fc.id_data
    if action is None:
        return
    if RECORD not in action:
        action[RECORD] = {}
    action[RECORD][_record_name(fc)] = [v for kp in fc.keyframe_points if kp.type == GENERATED for v in kp.co]


def _left_as_generated(fc: bpy.types.FCurve) -> set[tuple[float, float]] | None:
    """The generated keys as last written (None when the curve has no record: then every one counts)."""
    action = fc.id_data
    record = action.get(RECORD) if action is not None else None
    if record is None or _record_name(fc) not in record:
        return None
    values = list(record[_record_name(fc)])
    return {(round(values[i], 3), round(values[i + 1], 6)) for i in range(0, len(values) - 1, 2)}


def is_pin(kp: bpy.types.Keyframe, generated: set[tuple[float, float]] | None) -> bool:
    """An animator's key: any type but GENERATED, or a generated key the animator moved or re-keyed."""
    if kp.type != GENERATED:
        return True
    return generated is not None and (round(kp.co.x, 3), round(kp.co.y, 6)) not in generated


def adopt_edits(fc: bpy.types.FCurve) -> int:
    """Turn generated keys the animator has moved or re-keyed into ordinary keys (pins); returns how many.

    Dragging a key in the Graph Editor, or keying a frame that has a generated key, keeps its type, so the
    edit is recognized by comparing with where the add-on left its keys.
    """
    generated = _left_as_generated(fc)
    count = 0
    for kp in fc.keyframe_points:
        if kp.type == GENERATED and is_pin(kp, generated):
            kp.type = "KEYFRAME"
            count += 1
    return count


def _clear_generated(fc: bpy.types.FCurve, first_frame: int, last_frame: int, keep_keys: bool, clear_all: bool) -> None:
    """Before new generated keys are written: the animator's edits adopted as pins, then the generated keys in
    [first_frame, last_frame] removed (all of them with ``clear_all``), and the animator's keys in the range too
    unless ``keep_keys``."""
    points = fc.keyframe_points
    adopt_edits(fc)
    for i in range(len(points) - 1, -1, -1):
        kp = points[i]
        inside = first_frame - 0.5 <= kp.co.x <= last_frame + 0.5
        if (inside or clear_all) and (kp.type == GENERATED or (inside and not keep_keys)):
            points.remove(kp, fast=True)
    fc.update()


def write_sparse(
    fc: bpy.types.FCurve,
    first_frame: int,
    values: Sequence[float],
    tol: float,
    keep_keys: bool = True,
    clear_all: bool = True,
    fit: bool = True,
    bounds: tuple[float, float] | None = None,
) -> tuple[int, float]:
    """Replace the generated keys of ``fc`` by sparse keys following ``values`` (one per frame from
    ``first_frame``); returns (keys in the range, max deviation from the dense values).

    Keys go on the range's ends and the curve's turning points, then on the worst frame of every segment that
    is off by more than ``tol`` until none is; ``fit`` gives them the dense curve's slopes. Keys of other types
    (the animator's pins) are kept when ``keep_keys``. ``clear_all`` removes generated keys outside the range
    as well (a whole regeneration); otherwise only those inside it go.
    """
    n = len(values)
    last_frame = first_frame + n - 1
    points = fc.keyframe_points
    _clear_generated(fc, first_frame, last_frame, keep_keys, clear_all)
    keyed = {round(kp.co.x) for kp in points}
    for i in [0, n - 1, *_extrema(values, tol)]:
        if first_frame + i not in keyed:
            _insert(fc, first_frame + i, values[i])
            keyed.add(first_frame + i)
    frames = range(first_frame, last_frame + 1)
    while True:
        fc.update()
        if fit:
            _fit_handles(fc, first_frame, values, bounds)
        devs = [abs(fc.evaluate(f) - v) for f, v in zip(frames, values)]
        key_frames = sorted(k for k in keyed if first_frame <= k <= last_frame)
        added = False
        for a, b in zip(key_frames, key_frames[1:]):
            if b - a < 2:
                continue
            seg = range(a + 1 - first_frame, b - first_frame)
            worst = max(seg, key=devs.__getitem__)
            if devs[worst] > tol:
                _insert(fc, first_frame + worst, values[worst])
                keyed.add(first_frame + worst)
                added = True
        if not added:
            break
    devs = _prune(fc, first_frame, values, tol, fit, devs, bounds)
    _remember(fc)
    count = sum(1 for kp in points if first_frame - 0.5 <= kp.co.x <= last_frame + 0.5)
    return count, max(devs) if devs else 0.0


def _prune(
    fc: bpy.types.FCurve,
    first_frame: int,
    values: Sequence[float],
    tol: float,
    fit: bool,
    devs: list[float],
    bounds: tuple[float, float] | None = None,
) -> list[float]:
    """Drop generated keys the curve can do without (deviation stays within ``tol``); returns the deviations."""
    n = len(values)
    last_frame = first_frame + n - 1
    points = fc.keyframe_points
    k = 1
    while k < len(points) - 1:
        kp = points[k]
        frame = round(kp.co.x)
        if kp.type != GENERATED or not first_frame < frame < last_frame:
            k += 1
            continue
        co, hl, hr = tuple(kp.co), tuple(kp.handle_left), tuple(kp.handle_right)
        lo = max(first_frame, round(points[max(0, k - 2)].co.x))
        hi = min(last_frame, round(points[min(len(points) - 1, k + 2)].co.x))
        points.remove(kp, fast=True)
        fc.update()
        if fit:
            _fit_handles(fc, first_frame, values, bounds, near=co[0])
        local = [abs(fc.evaluate(f) - values[f - first_frame]) for f in range(lo, hi + 1)]
        if max(local) <= tol:
            devs[lo - first_frame : hi - first_frame + 1] = local
            continue  # removed: the next key now sits at index k
        kp = _insert(fc, co[0], co[1])
        kp.handle_left, kp.handle_right = hl, hr
        fc.update()
        if fit:
            _fit_handles(fc, first_frame, values, bounds, near=co[0])
        k += 1
    return [abs(fc.evaluate(f) - v) for f, v in zip(range(first_frame, last_frame + 1), values)]


def _bezier_split(p0, p1, p2, p3, t):
    """De Casteljau: the control points of both halves of a cubic Bezier split at ``t``."""

    def lerp(a, b):
        return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)

    q0, q1, q2 = lerp(p0, p1), lerp(p1, p2), lerp(p2, p3)
    r0, r1 = lerp(q0, q1), lerp(q1, q2)
    s = lerp(r0, r1)
    return q0, r0, s, r1, q2


def freeze_at(fc: bpy.types.FCurve, frame: float) -> None:
    """Put a key at ``frame`` without changing the curve's shape (see ``_freeze_at``) and record it as generated."""
    _freeze_at(fc, frame)
    if _left_as_generated(fc) is not None:
        _remember(fc)


def _freeze_at(fc: bpy.types.FCurve, frame: float) -> None:
    """Put a key at ``frame`` without changing the curve's shape anywhere (the Bezier segment is split exactly),
    and freeze the handles around it, so later key changes on one side leave the other side as it is."""
    points = fc.keyframe_points
    adopt_edits(fc)  # the animator's changes stay theirs; the key added here is the add-on's
    fc.update()
    for kp in points:  # freeze: automatic handles would follow later changes of their neighbours
        if kp.handle_left_type in {"AUTO", "AUTO_CLAMPED"}:
            kp.handle_left_type = kp.handle_right_type = "ALIGNED"
    existing = next((kp for kp in points if abs(kp.co.x - frame) < 1e-4), None)
    if existing is not None:
        return
    before = [kp for kp in points if kp.co.x < frame]
    after = [kp for kp in points if kp.co.x > frame]
    value = fc.evaluate(frame)
    if not before or not after or before[-1].interpolation != "BEZIER":
        kp = _insert(fc, frame, value)
        kp.handle_left_type = kp.handle_right_type = "ALIGNED"
        kp.handle_left, kp.handle_right = (frame - 1.0, value), (frame + 1.0, value)
        if before and after:  # constant / linear segment: a flat key keeps it only for constant ones
            kp.interpolation = before[-1].interpolation
        return
    k0, k1 = before[-1], after[0]
    p0, p1, p2, p3 = tuple(k0.co), tuple(k0.handle_right), tuple(k1.handle_left), tuple(k1.co)
    lo, hi = 0.0, 1.0
    for _ in range(60):  # x(t) is monotonic on a valid segment: bisection
        t = (lo + hi) / 2
        x = (1 - t) ** 3 * p0[0] + 3 * (1 - t) ** 2 * t * p1[0] + 3 * (1 - t) * t * t * p2[0] + t**3 * p3[0]
        lo, hi = (t, hi) if x < frame else (lo, t)
    q0, r0, s, r1, q2 = _bezier_split(p0, p1, p2, p3, (lo + hi) / 2)
    k0_right, k1_left = q0, q2
    kp = _insert(fc, frame, value)
    kp.handle_left_type = kp.handle_right_type = "FREE"
    kp.handle_left, kp.handle_right = r0, r1
    for key in points:  # the insert may have re-ordered the points: find the neighbours again
        if abs(key.co.x - p0[0]) < 1e-6:
            key.handle_right_type = "FREE"
            key.handle_right = k0_right
        elif abs(key.co.x - p3[0]) < 1e-6:
            key.handle_left_type = "FREE"
            key.handle_left = k1_left


def pins_of(fc: bpy.types.FCurve | None, first_frame: int, n: int) -> dict[int, float]:
    """Animator keys inside the range (see ``is_pin``), as {pose frame index: value}."""
    out: dict[int, float] = {}
    if fc is None:
        return out
    generated = _left_as_generated(fc)
    for kp in fc.keyframe_points:
        if not is_pin(kp, generated):
            continue
        i = round(kp.co.x) - first_frame
        if 0 <= i < n:
            out[i] = fc.evaluate(first_frame + i)
    return out


def write_steps(
    fc: bpy.types.FCurve, first_frame: int, values: Sequence[float], keep_keys: bool = True, clear_all: bool = True
) -> int:
    """Replace the generated keys of ``fc`` by constant (stepped) keys where ``values`` (one per frame from
    ``first_frame``) change: drawings, layers and actions switched per mouth shape. The animator's keys stay
    when ``keep_keys``; a pin shows its value until the next change. Returns the keys in the range."""
    n = len(values)
    last_frame = first_frame + n - 1
    points = fc.keyframe_points
    _clear_generated(fc, first_frame, last_frame, keep_keys, clear_all)
    pinned = {round(kp.co.x) for kp in points}
    for i, v in enumerate(values):
        if (i == 0 or v != values[i - 1]) and first_frame + i not in pinned:
            kp = points.insert(first_frame + i, v, options={"FAST"}, keyframe_type=GENERATED)
            kp.interpolation = "CONSTANT"
    for kp in points:  # the animator's keys in a stepped curve step too
        kp.interpolation = "CONSTANT"
    fc.update()
    _remember(fc)
    return sum(1 for kp in points if first_frame - 0.5 <= kp.co.x <= last_frame + 0.5)


Style = Callable[[bpy.types.FCurve], "tuple[float, tuple[float, float] | None] | None"]


def thin(fcurves: Any, tolerance_deg: float, style: Style) -> tuple[int, int]:
    """Rebuild the generated keys of every curve with a looser tolerance (``tolerance_deg`` for rotations,
    the other channels in proportion), following the curve as it is now; pins stay. ``style(fc)`` gives a
    curve's own tolerance and bounds (None: leave it, e.g. a stepped curve). Returns key counts (before,
    after)."""
    factor = tolerance_deg / ROT_TOL_DEG
    before = after = 0
    for fc in fcurves:
        points = fc.keyframe_points
        before += len(points)
        how = style(fc)
        if how is None or sum(kp.type == GENERATED for kp in points) < 3:
            after += len(points)
            continue
        fc.update()
        first, last = round(points[0].co.x), round(points[-1].co.x)
        values = [fc.evaluate(f) for f in range(first, last + 1)]
        write_sparse(fc, first, values, how[0] * factor, keep_keys=True, clear_all=False, bounds=how[1])
        after += len(points)
    return before, after
