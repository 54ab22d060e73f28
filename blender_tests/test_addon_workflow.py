"""The animator's loop through the real worker: strength per axis group and time offsets, takes (new, switch,
render the chosen one), Make Editable / Bake to One Action / NLA push-down, and a scenario that edits keys,
regenerates around them (pins to 0.05°, no kink), switches takes, undoes back to the start and renders."""

from __future__ import annotations

import math
import os
from pathlib import Path

import bpy
import pytest
from bt_env import snapshot

PROMPT = "nods slowly, then looks to the left"
N_FRAMES = 72  # three seconds at 24 fps: room for pins, quick to render


@pytest.fixture
def rig3s(addon, scene_with_speech, portrait):
    scene, strip = scene_with_speech
    strip.frame_offset_end = strip.frame_duration - 12 - N_FRAMES
    assert strip.frame_final_duration == N_FRAMES
    assert bpy.ops.posetalk.create_rig(image_path=str(portrait)) == {"FINISHED"}
    scene.posetalk.backend = os.environ.get("POSETALK_TEST_BACKEND", "auto")  # e.g. pld: the same loop on it
    return scene, strip, scene.posetalk.rig


def dense(fc: bpy.types.FCurve, first: int, n: int) -> list[float]:
    return [fc.evaluate(first + i) for i in range(n)]


def best_shift(a: list[float], b: list[float], shifts: range) -> int:
    """The shift s minimizing the mean squared difference of b[i + s] and a[i]."""

    def err(s: int) -> float:
        pairs = [(a[i], b[i + s]) for i in range(10, len(a) - 10) if 0 <= i + s < len(b)]
        return sum((x - y) ** 2 for x, y in pairs) / len(pairs)

    return min(shifts, key=err)


def jerk(values: list[float]) -> list[float]:
    """|change of the acceleration| per frame (second differences' first difference), degrees/frame³."""
    n = len(values)
    acc = [values[i + 1] - 2 * values[i] + values[i - 1] if 0 < i < n - 1 else 0.0 for i in range(n)]
    return [abs(acc[i + 1] - acc[i]) if 0 < i < n - 2 else 0.0 for i in range(n)]


# 1. strength per axis group, time offsets --------------------------------------------------------------------
def test_axis_group_strength_and_time_offsets(rig3s, addon, engine_started):
    scene, strip, head = rig3s
    first = strip.frame_final_start
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=4) == {"FINISHED"}
    fcs = addon.curves.find_fcurves(head)
    yaw, locx = fcs.find("rotation_euler", index=1), fcs.find("location", index=0)
    base_yaw, base_x = dense(yaw, first, N_FRAMES), dense(locx, first, N_FRAMES)
    assert max(map(abs, base_yaw)) > math.radians(1.0) and max(map(abs, base_x)) > 1e-4

    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=4, strength_rotation=0.0) == {"FINISHED"}
    for i in range(3):
        fc = fcs.find("rotation_euler", index=i)
        assert max(abs(v) for v in dense(fc, first, N_FRAMES)) < math.radians(0.05)
    assert dense(locx, first, N_FRAMES) == pytest.approx(base_x, abs=0.01 * max(map(abs, base_x)) + 1e-5)

    st = scene.posetalk  # unset operator properties come from the panel
    st.strength_translation, st.strength_rotation = 0.0, 2.0
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=4) == {"FINISHED"}
    assert max(abs(v) for v in dense(locx, first, N_FRAMES)) < 1e-4
    double = dense(yaw, first, N_FRAMES)
    assert max(map(abs, double)) == pytest.approx(2 * max(map(abs, base_yaw)), rel=0.1)
    st.strength_translation = st.strength_rotation = 1.0

    st.time_offset_ms = 250.0  # 6 frames at 24 fps: the head lags
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=4) == {"FINISHED"}
    assert best_shift(base_yaw, dense(yaw, first, N_FRAMES), range(-10, 11)) == 6

    assert bpy.ops.posetalk.generate_lipsync() == {"FINISHED"}
    mouth = fcs.find('["mouth_open"]')
    base_mouth = dense(mouth, first, N_FRAMES)
    assert bpy.ops.posetalk.generate_lipsync(time_offset_ms=-125.0) == {"FINISHED"}  # the mouth leads 3 frames
    assert best_shift(base_mouth, dense(mouth, first, N_FRAMES), range(-8, 9)) == -3
    st.lips_time_offset_ms = 125.0
    assert bpy.ops.posetalk.generate_lipsync() == {"FINISHED"}
    assert best_shift(base_mouth, dense(mouth, first, N_FRAMES), range(-8, 9)) == 3


# 2. takes ------------------------------------------------------------------------------------------------------
def test_takes_are_new_actions_and_switch(rig3s, addon):
    scene, strip, head = rig3s
    takes = addon.takes
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=7) == {"FINISHED"}
    take1 = head.animation_data.action
    assert take1.name == "PoseTalk Take 1 · seed 7 · nods slowly, then looks to the…"  # 63 bytes at most
    before = snapshot(head, addon.curves)
    assert bpy.ops.posetalk.new_take() == {"FINISHED"}
    take2 = head.animation_data.action
    assert take2 != take1 and take2.name.startswith("PoseTalk Take 2 · seed 8 · ")
    assert head.animation_data.action_slot is not None if addon.compat.LAYERED_ACTIONS else True
    assert bpy.ops.posetalk.new_take(seed=7) == {"FINISHED"}  # an explicit seed
    assert head.animation_data.action["posetalk_seed"] == 7
    assert [a["posetalk_take"] for a in takes.takes_of(head)] == [1, 2, 3]
    assert bpy.ops.posetalk.new_take() == {"FINISHED"}  # seeds 7 and 8 are taken: 9
    assert head.animation_data.action["posetalk_seed"] == 9
    long = takes.take_name(12, 3, "word " * 40)
    assert len(long.encode()) <= 63 and long.endswith("…")

    assert bpy.ops.posetalk.switch_take(action=take1.name) == {"FINISHED"}
    assert head.animation_data.action == take1 and snapshot(head, addon.curves) == before  # untouched
    scene.frame_set(strip.frame_final_start + 20)
    yaw1 = head.rotation_euler.y
    assert yaw1 == pytest.approx(
        addon.curves.find_fcurves(head).find("rotation_euler", index=1).evaluate(scene.frame_current)
    )
    assert bpy.ops.posetalk.switch_take(take=take2.name) == {"FINISHED"}  # the menu's enum
    scene.frame_set(strip.frame_final_start + 20)
    assert head.rotation_euler.y != pytest.approx(yaw1, abs=1e-4)
    with pytest.raises(RuntimeError, match="no take named"):
        bpy.ops.posetalk.switch_take(action="not a take")

    # an animator's own action is never overwritten silently: New Take copies it
    own = bpy.data.actions.new("my hand-keyed action")
    takes.assign(head, own)
    fc = addon.curves.ensure_fcurves(head).new("rotation_euler", index=2)
    fc.keyframe_points.insert(strip.frame_final_start + 10, math.radians(-4.0))
    assert bpy.ops.posetalk.new_take() == {"FINISHED"}
    assert (
        head.animation_data.action != own
        and len(own.layers[0].strips[0].channelbags[0].fcurves if addon.compat.LAYERED_ACTIONS else own.fcurves) == 1
    )
    roll = addon.curves.find_fcurves(head).find("rotation_euler", index=2)
    assert math.degrees(roll.evaluate(strip.frame_final_start + 10)) == pytest.approx(-4.0, abs=0.05)  # a pin


# 3. make editable, bake, NLA -----------------------------------------------------------------------------------
def test_make_editable_bake_and_nla(rig3s, addon):
    scene, strip, head = rig3s
    first = strip.frame_final_start
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=1) == {"FINISHED"}
    take1 = head.animation_data.action
    fcs = addon.curves.find_fcurves(head)
    pitch = fcs.find("rotation_euler", index=0)
    pin = first + 30
    pitch.keyframe_points.insert(pin, math.radians(-8.0), keyframe_type="KEYFRAME")
    roll = fcs.find("rotation_euler", index=2)
    own = roll.keyframe_points.insert(first + 40, math.radians(3.0), keyframe_type="KEYFRAME")
    own.handle_left_type = own.handle_right_type = "FREE"  # a pin with the animator's own handle shape
    own.handle_left, own.handle_right = (first + 39, math.radians(1.0)), (first + 41, math.radians(6.0))

    def slopes(kp):  # the handles' directions (Blender may shorten a handle that reaches past a neighbour)
        return [math.atan2(h.y - kp.co.y, abs(h.x - kp.co.x)) for h in (kp.handle_left, kp.handle_right)]

    shape = slopes(own)
    keys = sum(len(fc.keyframe_points) for fc in fcs)
    assert bpy.ops.posetalk.make_editable(tolerance=2.0) == {"FINISHED"}
    thinned = sum(len(fc.keyframe_points) for fc in fcs)
    print(f"\nmake editable at 2°: {keys} keys -> {thinned}")
    assert thinned < 0.8 * keys, (keys, thinned)
    assert -math.degrees(pitch.evaluate(pin)) == pytest.approx(8.0, abs=0.05)
    assert any(kp.type == "KEYFRAME" and kp.co.x == pin for kp in pitch.keyframe_points)
    (own,) = [kp for kp in roll.keyframe_points if kp.type == "KEYFRAME"]
    # free handles stay: the same directions (radians; a shortened handle's float32 coordinates round its
    # direction by ~1e-5, a recomputed handle would differ by far more)
    assert own.handle_left_type == "FREE" and slopes(own) == pytest.approx(shape, abs=1e-4), [
        (h.x - own.co.x, h.y - own.co.y) for h in (own.handle_left, own.handle_right)
    ]

    assert bpy.ops.posetalk.bake_take() == {"FINISHED"}
    baked = head.animation_data.action
    assert baked != take1 and baked.name.startswith("PoseTalk Bake 2 · seed 1")
    bfcs = addon.curves.find_fcurves(head)
    assert all(kp.type == "KEYFRAME" for fc in bfcs for kp in fc.keyframe_points)
    assert any(kp.type == "GENERATED" for kp in pitch.keyframe_points)  # the take itself is unchanged
    values = {f: bfcs.find("rotation_euler", index=1).evaluate(f) for f in range(first, first + N_FRAMES, 7)}
    add = {f: fcs.find("rotation_euler", index=1).evaluate(f) for f in values}

    # NLA: push the baked action down, blend take 1 on top (ADD)
    ad = head.animation_data
    slot = addon.compat.action_slot(ad)
    ad.action = None
    track = ad.nla_tracks.new()
    base = track.strips.new("baked", first, baked)
    if slot is not None:
        base.action_slot = slot
    top = ad.nla_tracks.new()
    layer = top.strips.new("take 1", first, take1)
    if slot is not None:
        layer.action_slot = next(s for s in take1.slots)
    layer.blend_type = "ADD"
    for f, v in values.items():
        scene.frame_set(f)
        assert head.rotation_euler.y == pytest.approx(v + add[f], abs=1e-5), f
    top.mute = True
    scene.frame_set(first + 21)
    assert head.rotation_euler.y == pytest.approx(values[first + 21], abs=1e-5)


# 4. the animator's scenario ------------------------------------------------------------------------------------
def _move(fc: bpy.types.FCurve, kp: bpy.types.Keyframe, df: int, dv: float) -> tuple[int, float]:
    """Drag a key like the Graph Editor does (handles along) and make it the animator's."""
    kp.co = (kp.co.x + df, kp.co.y + dv)
    kp.handle_left = (kp.handle_left.x + df, kp.handle_left.y + dv)
    kp.handle_right = (kp.handle_right.x + df, kp.handle_right.y + dv)
    kp.type = "KEYFRAME"
    kp.handle_left_type = kp.handle_right_type = "AUTO_CLAMPED"
    target = (round(kp.co.x), kp.co.y)
    fc.update()
    return target


def test_animator_scenario(rig3s, addon, tmp_path: Path, record_property):
    scene, strip, head = rig3s
    curves = addon.curves
    first = strip.frame_final_start
    bpy.ops.ed.undo_push(message="rig")
    start = snapshot(head, curves)
    n_actions = len(bpy.data.actions)

    # generate
    assert bpy.ops.posetalk.generate_motion("EXEC_DEFAULT", True, prompt=PROMPT, seed=1) == {"FINISHED"}
    head = bpy.data.objects["PoseTalk Head"]
    generated = snapshot(head, curves)
    fcs = curves.find_fcurves(head)
    yaw, pitch = fcs.find("rotation_euler", index=1), fcs.find("rotation_euler", index=0)

    # move two keys (value and frame), add one
    pins: list[tuple[str, int, int, float]] = []  # data path, index, frame, value
    key_frames = [round(kp.co.x) for kp in yaw.keyframe_points]
    inner = [f for f in key_frames if first + 10 < f < first + N_FRAMES - 10]
    assert len(inner) >= 2, key_frames
    for frame, df, dv in ((inner[0], 2, math.radians(6.0)), (inner[-1], -2, math.radians(-5.0))):
        kp = next(k for k in yaw.keyframe_points if round(k.co.x) == frame)
        pins.append(("rotation_euler", 1, *_move(yaw, kp, df, dv)))
    add_frame = first + N_FRAMES // 2
    pitch.keyframe_points.insert(add_frame, math.radians(-7.0), keyframe_type="KEYFRAME")
    pins.append(("rotation_euler", 0, add_frame, math.radians(-7.0)))
    bpy.ops.ed.undo_push(message="animator's keys")
    edited_yaw = dense(yaw, first, N_FRAMES)

    # regenerate with pins (another seed)
    assert bpy.ops.posetalk.generate_motion("EXEC_DEFAULT", True, prompt=PROMPT, seed=2) == {"FINISHED"}
    head = bpy.data.objects["PoseTalk Head"]
    fcs = curves.find_fcurves(head)
    errors, near, rest = [], [], []
    for path, index, frame, value in pins:
        fc = fcs.find(path, index=index)
        keys = [kp for kp in fc.keyframe_points if kp.type != "GENERATED"]
        assert any(round(kp.co.x) == frame for kp in keys)
        errors.append(abs(math.degrees(fc.evaluate(frame) - value)))
    engine = addon.runner.current.result["pose"]["frames"]  # the engine's dense curve, for comparison
    engine_near, engine_rest = [], []
    for fc in (fcs.find("rotation_euler", index=1), fcs.find("rotation_euler", index=0)):
        pin_frames = [f - first for _p, i, f, _v in pins if i == fc.array_index]
        close = {i for p in pin_frames for i in range(p - 3, p + 4)}
        for curve, a, b in (
            ([math.degrees(v) for v in dense(fc, first, N_FRAMES)], near, rest),
            ([row[fc.array_index] for row in engine[:N_FRAMES]], engine_near, engine_rest),
        ):
            j = jerk(curve)
            a += [j[i] for i in close if 0 <= i < N_FRAMES]
            b += [j[i] for i in range(N_FRAMES) if i not in close]
    for name, value in (("pin_error_deg", max(errors)), ("jerk_near_pins", max(near)), ("jerk_elsewhere", max(rest))):
        record_property(name, value)
    print(
        f"\npins: max error {max(errors):.4f} deg; jerk near pins {max(near):.3f} vs elsewhere {max(rest):.3f}"
        f" (the engine's dense curve: {max(engine_near):.3f} vs {max(engine_rest):.3f})"
    )
    assert max(errors) <= 0.05
    # no kink: the keyed curve changes its acceleration near the pins no more than elsewhere, or than the
    # engine's own dense motion does on its way into them (a fast move to a far pin is the engine's choice)
    assert max(near) <= 1.25 * max(max(rest), max(engine_near)), "a kink at a pin"
    new_yaw = dense(fcs.find("rotation_euler", index=1), first, N_FRAMES)
    assert max(abs(a - b) for a, b in zip(new_yaw, edited_yaw)) > math.radians(0.5), "the rest did not change"

    # takes: a new one, then back to the first
    assert bpy.ops.posetalk.new_take("EXEC_DEFAULT", True) == {"FINISHED"}
    head = bpy.data.objects["PoseTalk Head"]
    take2 = head.animation_data.action.name
    assert len(addon.takes.takes_of(head)) == 2
    take1 = addon.takes.takes_of(head)[0].name
    assert bpy.ops.posetalk.switch_take("EXEC_DEFAULT", True, action=take1) == {"FINISHED"}
    head = bpy.data.objects["PoseTalk Head"]
    assert head.animation_data.action.name == take1 != take2
    chosen_take = snapshot(head, curves)
    # clean-up steps are undo steps too
    assert bpy.ops.posetalk.make_editable("EXEC_DEFAULT", True, tolerance=1.5) == {"FINISHED"}
    assert bpy.ops.posetalk.bake_take("EXEC_DEFAULT", True) == {"FINISHED"}
    head = bpy.data.objects["PoseTalk Head"]
    assert head.animation_data.action.name.startswith("PoseTalk Bake 3")
    bpy.ops.ed.undo()
    head = bpy.data.objects["PoseTalk Head"]
    assert head.animation_data.action.name == take1 and snapshot(head, curves) != chosen_take  # thinned
    bpy.ops.ed.undo()
    head = bpy.data.objects["PoseTalk Head"]
    assert snapshot(head, curves) == chosen_take

    # undo back to the start, step by step
    for expect in ("take 2", "take 1 regenerated", "edited", "generated", "start"):
        bpy.ops.ed.undo()
        head = bpy.data.objects["PoseTalk Head"]
        if expect == "edited":
            assert yaw_pin_frames(head, curves) == sorted(f for _p, i, f, _v in pins if i == 1)
        if expect == "generated":
            assert snapshot(head, curves) == generated
    assert snapshot(head, curves) == start
    assert len([a for a in bpy.data.actions if a.users]) <= n_actions
    # ... and forward again to the chosen take
    for _ in range(5):
        bpy.ops.ed.redo()
    head = bpy.data.objects["PoseTalk Head"]
    assert head.animation_data.action.name == take1 and snapshot(head, curves) == chosen_take

    # render: the chosen take is what renders (undo replaced every ID: fetch them again)
    scene = bpy.context.scene
    timing = addon.sequencer.head_timing(bpy.context, head)
    pose, _lips = addon.operators.render.sample_curves(bpy.context, head, timing)
    yaw1 = curves.find_fcurves(head).find("rotation_euler", index=1)
    assert pose["frames"][40][1] == pytest.approx(math.degrees(yaw1.evaluate(first + 40)), abs=1e-3)
    scene.frame_end = first + N_FRAMES
    assert bpy.ops.posetalk.render_frames(size=128, out=str(tmp_path / "frames")) == {"FINISHED"}
    assert len(list((tmp_path / "frames").glob("frame_*.png"))) == N_FRAMES


def yaw_pin_frames(head: bpy.types.Object, curves) -> list[int]:
    fcs = curves.find_fcurves(head)
    if fcs is None:
        return []
    yaw = fcs.find("rotation_euler", index=1)
    return sorted(round(kp.co.x) for kp in yaw.keyframe_points if kp.type != "GENERATED")
