"""engine.motion: strength per axis group, smoothing, time offset and exact pins."""

from __future__ import annotations

import numpy as np
import pytest

from engine.jobs import Job, run_op
from engine.motion import apply_pins, calm_pauses, shape_motion, shift_in_time


def _wave(n: int = 200) -> np.ndarray:
    t = np.arange(n) / 25
    m = np.zeros((n, 6))
    m[:, 0] = 5 * np.sin(2 * np.pi * 0.5 * t)
    m[:, 1] = 3 * np.cos(2 * np.pi * 0.3 * t)
    m[:, 3] = 0.02 * np.sin(t)
    m[:, 5] = 1 + 0.03 * np.sin(t)
    return m


def test_strength_per_group_scales_about_neutral():
    m = _wave()
    out = shape_motion(m, 25, strength=np.array([2, 2, 2, 0, 0, 0.5]))
    np.testing.assert_allclose(out[:, :3], 2 * m[:, :3])
    np.testing.assert_allclose(out[:, 3:5], 0)
    np.testing.assert_allclose(out[:, 5] - 1, 0.5 * (m[:, 5] - 1))


def test_smoothing_removes_fast_motion():
    m = _wave()
    m[::2, 2] += 4.0  # 12.5 Hz flutter
    out = shape_motion(m, 25, smoothing=0.1)
    assert np.abs(np.diff(out[:, 2])).max() < 0.5 < np.abs(np.diff(m[:, 2])).max()


def test_time_offset_delays_motion():
    m = _wave()
    out = shift_in_time(m, 25, 0.2)  # 5 frames later
    np.testing.assert_allclose(out[5:], m[:-5], atol=1e-9)
    np.testing.assert_allclose(shift_in_time(m, 25, -0.2)[:-5], m[5:], atol=1e-9)


def test_pins_exact_and_smooth():
    m = _wave()
    pins = np.full_like(m, np.nan)
    pins[50] = [9, -9, 4, 0.1, -0.1, 1.2]
    pins[120, 0] = -7
    out = apply_pins(m, pins, 25)
    np.testing.assert_allclose(out[50], pins[50], atol=1e-12)
    assert out[120, 0] == pytest.approx(-7)
    accel = np.abs(np.diff(out[:, 0], 2))
    assert accel.max() < 1.5  # no kink at the pins
    np.testing.assert_allclose(out[180:, 0], m[180:, 0], atol=1e-9)  # beyond the reach: unchanged


def test_calm_pauses_settles_quick_motion_only_in_pauses():
    n, fps = 300, 25
    t = np.arange(n) / fps
    m = np.zeros((n, 6))
    m[:, 0] = 4 * np.sin(2 * np.pi * 2.0 * t)  # nods, 2 Hz
    m[:, 1] = -15 * (t > 4)  # a held turn to the side, slow
    speech = np.ones(n)
    speech[100:200] = 0.0  # a 4 s pause
    out = calm_pauses(m, speech, fps, 0.8)
    assert np.abs(out[135:165, 0]).max() < 0.25 * 4  # nods settle inside the pause
    np.testing.assert_allclose(out[:75, 0], m[:75, 0], atol=0.1)  # and are kept in speech
    np.testing.assert_allclose(out[225:, 0], m[225:, 0], atol=0.1)
    assert out[140:160, 1].mean() == pytest.approx(-15, abs=0.2)  # the held turn stays
    np.testing.assert_array_equal(calm_pauses(m, speech, fps, 0.0), m)


def test_pose_op_time_offset(speech_wav):
    params = {"audio": str(speech_wav), "prompt": "nods", "seed": 1}
    base = np.array(run_op("pose", params, Job())["pose"]["frames"])
    shifted = run_op("pose", {**params, "time_offset_ms": 200}, Job())["pose"]
    assert shifted["meta"]["time_offset_ms"] == 200
    np.testing.assert_allclose(np.array(shifted["frames"])[5:], base[:-5], atol=2e-4)
