"""Eye blinks of a render: natural ones (a seeded schedule, every 2-6 s, about 150 ms each) or given ones (a lips.json
``blink`` channel, e.g. captured from a video), sampled per video frame."""

from __future__ import annotations

import numpy as np

CLOSE_S = 0.06  # lid comes down
OPEN_S = 0.09  # ... and goes back up a little slower
BLINK_CHANNEL = "blink"  # the lips.json channel that gives the blinks


def blink_curve(n: int, fps: float, seed: int = 0, first: float | None = None) -> np.ndarray:
    """Eyelid closure (n,) in 0..1 for ``n`` frames at ``fps``; blinks start on frame boundaries."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n, dtype=np.float32)
    duration = n / fps
    t = rng.uniform(0.8, 3.0) if first is None else first
    while t < duration:
        start = int(np.ceil(t * fps))
        times = (np.arange(start, min(n, start + int(np.ceil((CLOSE_S + OPEN_S) * fps)) + 2)) - start + 0.5) / fps
        shape = np.where(times < CLOSE_S, times / CLOSE_S, 1.0 - (times - CLOSE_S) / OPEN_S)
        shape = np.clip(shape, 0.0, 1.0)
        if len(shape) > 1 and shape.max() < 0.95:  # make sure one frame shows the closed eye
            shape[int(np.argmax(shape))] = 1.0
        out[start : start + len(shape)] = np.maximum(out[start : start + len(shape)], shape)
        t = start / fps + rng.uniform(2.0, 6.0)
    return out


def eyelid_curve(
    lips: np.ndarray | None, channels: list[str] | None, n: int, fps: float, blinks: bool = True, seed: int = 0
) -> np.ndarray:
    """Eyelid closure (n,) for a render: the lips' ``blink`` channel when it has one, else natural blinks; none at
    all when ``blinks`` is off. Frames past the end of the lips stay open."""
    out = np.zeros(n, dtype=np.float32)
    if not blinks:
        return out
    if lips is None or not channels or BLINK_CHANNEL not in channels:
        return blink_curve(n, fps, seed)
    given = np.asarray(lips, dtype=np.float32).reshape(len(lips), -1)[:n, channels.index(BLINK_CHANNEL)]
    out[: len(given)] = np.clip(given, 0.0, 1.0)
    return out
