"""Post-processing shared by every pose backend: strength, smoothing and exact pins.

Pins (frames an animator keyed) are kept exactly; the motion around them is bent
smoothly so it flows into and out of each pin (the residual at the pins is
interpolated with a C1 spline and faded out away from them).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.ndimage import gaussian_filter1d

NEUTRAL = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0])


def shift_in_time(frames: np.ndarray, fps: float, seconds: float) -> np.ndarray:
    """Delay (``seconds`` > 0) or advance (< 0) a frame sequence, holding the ends."""
    frames = np.asarray(frames, dtype=np.float64)
    if seconds == 0 or len(frames) < 2:
        return frames.copy()
    src = np.arange(len(frames)) - seconds * fps
    idx = np.arange(len(frames))
    return np.stack([np.interp(src, idx, frames[:, c]) for c in range(frames.shape[1])], axis=1)


def shape_motion(
    frames: np.ndarray, fps: float, strength: float = 1.0, smoothing: float = 0.0, time_offset: float = 0.0
) -> np.ndarray:
    """Scale the motion about the neutral pose by ``strength``, smooth it and shift it in time.

    ``strength`` may be one number or six (one per channel); ``smoothing`` is a
    Gaussian sigma in seconds (0 = none); ``time_offset`` in seconds delays the
    motion against the audio (negative: the head leads the voice).
    """
    out = shift_in_time(frames, fps, time_offset)
    gain = np.broadcast_to(np.asarray(strength, dtype=np.float64), (6,))
    out = NEUTRAL + (out - NEUTRAL) * gain
    if smoothing > 0 and len(out) > 1:
        out = gaussian_filter1d(out, sigma=smoothing * fps, axis=0, mode="nearest")
    return out


SPEECH_ENVELOPE_SIGMA_S = 0.3  # speech activity smoothed over ~0.3 s: how much a frame is in speech
PAUSE_FAST_SIGMA_S = 0.2  # the slow part of a motion: Gaussian over 0.2 s (half its amplitude kept at ~1 Hz)


def speech_envelope(speech: np.ndarray, fps: float) -> np.ndarray:
    """How much each frame is in speech (0..1): the speech activity ``speech`` (n,) smoothed over ~0.3 s.

    Both pose models calm their motion where it drops (the keyword model by its own rules, the diffusion
    model in :func:`calm_pauses`).
    """
    return np.clip(gaussian_filter1d(np.asarray(speech, np.float64), sigma=SPEECH_ENVELOPE_SIGMA_S * fps), 0.0, 1.0)


def calm_pauses(frames: np.ndarray, speech: np.ndarray, fps: float, amount: float) -> np.ndarray:
    """Scale the quick part of the motion (nods, shakes, beats: above ~1 Hz) down in pauses.

    ``speech`` (n,) is the speech activity 0..1 of each frame, smoothed over 0.3 s into how much each frame is
    in speech; where it is 0 the quick part is scaled by ``1 - amount`` (0: unchanged, 1: only the slow part,
    the held turns and offsets, is left). Inside speech the motion is unchanged.
    """
    out = np.asarray(frames, dtype=np.float64)
    if amount <= 0 or len(out) < 2:
        return out.copy()
    env = speech_envelope(speech, fps)
    slow = gaussian_filter1d(out, sigma=PAUSE_FAST_SIGMA_S * fps, axis=0, mode="nearest")
    gain = 1.0 - min(float(amount), 1.0) * (1.0 - env)
    return slow + (out - slow) * gain[:, None]


def pin_mask(pins: np.ndarray | None, n: int) -> np.ndarray:
    """(n, 6) bool: which channel values are pinned (finite entries of ``pins``)."""
    mask = np.zeros((n, 6), dtype=bool)
    if pins is None:
        return mask
    m = min(n, len(pins))
    mask[:m] = np.isfinite(pins[:m])
    return mask


def apply_pins(frames: np.ndarray, pins: np.ndarray | None, fps: float, reach: float = 1.0) -> np.ndarray:
    """Bend ``frames`` so every finite entry of ``pins`` is met exactly.

    The residual (pin − motion) is interpolated between pins of the same channel and
    faded out over ``reach`` seconds beyond the first and last pin.
    """
    out = np.asarray(frames, dtype=np.float64).copy()
    n = len(out)
    mask = pin_mask(pins, n)
    if not mask.any():
        return out
    t = np.arange(n, dtype=np.float64)
    fade = max(1.0, reach * fps)
    for c in range(6):
        idx = np.flatnonzero(mask[:, c])
        if idx.size == 0:
            continue
        resid = pins[idx, c] - out[idx, c]
        if idx.size == 1:
            corr = np.full(n, resid[0])
        else:
            corr = PchipInterpolator(idx.astype(np.float64), resid, extrapolate=False)(t)
        before, after = t < idx[0], t > idx[-1]
        corr[before] = resid[0] * _smoothstep(1.0 - (idx[0] - t[before]) / fade)
        corr[after] = resid[-1] * _smoothstep(1.0 - (t[after] - idx[-1]) / fade)
        out[:, c] += np.nan_to_num(corr)
        out[idx, c] = pins[idx, c]
    return out


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)
