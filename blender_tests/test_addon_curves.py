"""Sparse keys on real F-curves (no engine): the reduction keeps within its tolerance with few keys, keeps the
animator's keys, and freeze_at splits a curve without changing its shape."""

from __future__ import annotations

import math

import bpy
import pytest


def dense_motion(n: int, fps: float = 25.0) -> list[float]:
    """Speech-like head motion in radians: slow drift, nods of a few degrees, a pause that calms down."""
    out = []
    for i in range(n):
        t = i / fps
        calm = 0.2 if 4.0 < t < 5.5 else 1.0
        nods = 4 * math.sin(2 * math.pi * 1.3 * t + 0.5) + 1.5 * math.sin(2 * math.pi * 2.1 * t)
        deg = 3 * math.sin(2 * math.pi * 0.3 * t) + calm * nods
        out.append(math.radians(deg))
    return out


@pytest.fixture
def fcurve(addon):
    obj = bpy.data.objects.new("Curve Test", None)
    bpy.context.scene.collection.objects.link(obj)
    return addon.curves.ensure_fcurve(addon.curves.ensure_fcurves(obj), "rotation_euler", 1)


def test_reduction_meets_tolerance_with_few_keys(addon, fcurve):
    values = dense_motion(250)
    tol = math.radians(0.4)
    count, dev = addon.keys.write_sparse(fcurve, 10, values, tol)
    measured = max(abs(fcurve.evaluate(10 + i) - v) for i, v in enumerate(values))
    assert measured == pytest.approx(dev, abs=1e-6) and measured <= tol
    assert count / (250 / 25.0) <= 6.0  # keys per second
    assert all(kp.type == "GENERATED" and kp.interpolation == "BEZIER" for kp in fcurve.keyframe_points)
    assert fcurve.keyframe_points[0].co.x == 10 and fcurve.keyframe_points[-1].co.x == 259


def test_mouth_like_curve_stays_in_range(addon, fcurve):
    values = [max(0.0, math.sin(2 * math.pi * 4 * i / 25)) ** 2 if (i // 20) % 3 else 0.0 for i in range(200)]
    count, dev = addon.keys.write_sparse(fcurve, 1, values, addon.curves.MOUTH_TOL, bounds=(0.0, 1.0))
    assert dev <= addon.curves.MOUTH_TOL and count < 200
    evaluated = [fcurve.evaluate(1 + i / 4) for i in range(4 * 199)]  # between frames too
    assert min(evaluated) >= -1e-6 and max(evaluated) <= 1 + 1e-6


def test_reduction_keeps_the_animators_keys(addon, fcurve):
    values = dense_motion(120)
    fcurve.keyframe_points.insert(50, math.radians(9.0), keyframe_type="KEYFRAME")
    addon.keys.write_sparse(fcurve, 1, values, math.radians(0.4))
    (pin,) = [kp for kp in fcurve.keyframe_points if kp.type != "GENERATED"]
    assert pin.co.x == 50 and pin.co.y == pytest.approx(math.radians(9.0))
    addon.keys.write_sparse(fcurve, 1, values, math.radians(0.4), keep_keys=False)
    assert all(kp.type == "GENERATED" for kp in fcurve.keyframe_points)


def test_freeze_at_keeps_the_shape(addon, fcurve):
    values = dense_motion(200)
    addon.keys.write_sparse(fcurve, 1, values, math.radians(0.4))
    samples = [1 + i / 8 for i in range(8 * 199)]
    before = [fcurve.evaluate(f) for f in samples]
    for frame in (37, 120.0, 150):
        addon.keys.freeze_at(fcurve, frame)
    after = [fcurve.evaluate(f) for f in samples]
    assert max(abs(a - b) for a, b in zip(before, after)) < 1e-5
    assert any(abs(kp.co.x - 120) < 1e-6 for kp in fcurve.keyframe_points)


def test_invoke_blocks_in_background_mode(addon, scene_with_speech, portrait):
    assert bpy.app.background
    assert bpy.ops.posetalk.create_rig(image_path=str(portrait)) == {"FINISHED"}
    assert bpy.ops.posetalk.generate_motion("INVOKE_DEFAULT", prompt="nods while talking") == {"FINISHED"}
    assert not addon.runner.busy()
