"""What a lips document carries for characters besides the mouth channels: per-frame viseme weights, derived
from the viseme track (one source every mouth preset maps from: ARKit, Oculus, Rhubarb, drawn 2D mouths), and
an optional eyelid channel ``blink``.

The weights are computed after everything else (time offset included) from the document's own ``visemes``:
frame *i* gets each shape's share of the time span ``[i / fps, (i + 1) / fps)``, time not covered by a
viseme counts as the rest shape ``X``; a short Gaussian (``BLEND_S``) blends neighbouring shapes as
coarticulation does. ``strength`` scales the speaking shapes and gives the rest to ``X``, so at strength 1
each frame's weights sum to 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

SHAPES = ["A", "B", "C", "D", "E", "F", "G", "H", "X"]  # the lips track's viseme alphabet, rest last
REST = "X"
BLEND_S = 0.025  # seconds: neighbouring shapes blend over about ±2 sigma
BLINK_CHANNEL = "blink"


def viseme_weights(visemes: list[dict[str, Any]], n_frames: int, fps: float, strength: float = 1.0) -> dict[str, Any]:
    """``{"shapes": SHAPES, "frames": [[weight per shape] per frame]}`` for ``n_frames`` video frames."""
    col = {s: k for k, s in enumerate(SHAPES)}
    weights = np.zeros((n_frames, len(SHAPES)), dtype=np.float64)
    for v in visemes:
        k = col.get(str(v.get("shape")), col[REST])
        a, b = float(v["start"]) * fps, float(v["end"]) * fps  # in frames
        if b <= a or b <= 0 or a >= n_frames:
            continue
        first, last = max(0, int(np.floor(a))), min(n_frames - 1, int(np.ceil(b)) - 1)
        idx = np.arange(first, last + 1)
        overlap = np.minimum(idx + 1, b) - np.maximum(idx, a)
        weights[idx, k] += np.clip(overlap, 0.0, 1.0)
    covered = weights.sum(axis=1)
    weights[:, col[REST]] += np.clip(1.0 - covered, 0.0, 1.0)
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    if n_frames > 1:
        weights = gaussian_filter1d(weights, sigma=max(1e-3, BLEND_S * fps), axis=0, mode="nearest")
    speaking = [k for s, k in col.items() if s != REST]
    weights[:, speaking] *= float(strength)
    weights[:, col[REST]] = np.clip(1.0 - weights[:, speaking].sum(axis=1), 0.0, 1.0)
    return {"shapes": list(SHAPES), "frames": [[round(float(w), 4) for w in row] for row in weights]}


def with_blinks(frames: np.ndarray, channels: list[str], fps: float, seed: int) -> tuple[np.ndarray, list[str]]:
    """The mouth frames with an eyelid channel ``blink`` (0 open … 1 closed; the renderer's natural blinks)
    appended."""
    from .render.blinks import blink_curve  # noqa: PLC0415 (the render package loads torch: only when asked)

    blink = blink_curve(len(frames), fps, seed)
    return np.concatenate([np.asarray(frames, dtype=np.float32), blink[:, None]], axis=1), [*channels, BLINK_CHANNEL]
