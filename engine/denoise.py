"""Detector noise removed without lag: a one-euro filter run forward and backward over a whole clip.

The one-euro filter (Casiez, Roussel and Vogel, "1€ Filter: A Simple Speed-based Low-pass Filter for Noisy Input
in Interactive Systems", CHI 2012) is a first-order low-pass whose cutoff rises with the signal's speed: a still
head is smoothed hard (jitter goes), a fast turn passes almost untouched. Run causally it still trails a sudden
move by a frame or two; a captured clip is known in full, so the forward pass and the pass over the reversed clip
are averaged, which leaves no lag at all (a step stays where it was, its edge only softened).
"""

from __future__ import annotations

import math

import numpy as np

PAD_S = 0.5  # each end is extended by this much for the filter to settle


def _alpha(cutoff: np.ndarray | float, fps: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau * fps)


def one_euro(
    x: np.ndarray, fps: float, min_cutoff: np.ndarray | float, beta: np.ndarray | float, d_cutoff: float = 1.0
) -> np.ndarray:
    """The causal one-euro filter of ``x`` (n, c) sampled at ``fps``; ``min_cutoff`` (Hz) and ``beta`` (per unit
    of speed) are one per channel or shared."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    if len(x) == 0:
        return out
    min_cutoff = np.broadcast_to(np.asarray(min_cutoff, dtype=np.float64), x.shape[1:])
    beta = np.broadcast_to(np.asarray(beta, dtype=np.float64), x.shape[1:])
    a_d = _alpha(d_cutoff, fps)
    prev = x[0].copy()
    speed = np.zeros_like(prev)
    out[0] = prev
    for i in range(1, len(x)):
        speed += a_d * ((x[i] - prev) * fps - speed)
        a = _alpha(min_cutoff + beta * np.abs(speed), fps)
        prev = prev + a * (x[i] - prev)
        out[i] = prev
    return out


def _end_value(head: np.ndarray) -> np.ndarray:
    """Where a straight line fitted to ``head`` (m, c) puts its first sample."""
    t = np.arange(len(head), dtype=np.float64)
    slope = ((t - t.mean())[:, None] * (head - head.mean(0))).sum(0) / max(float(((t - t.mean()) ** 2).sum()), 1e-9)
    return head.mean(0) - slope * t.mean()


def zero_lag(
    x: np.ndarray, fps: float, min_cutoff: np.ndarray | float, beta: np.ndarray | float, d_cutoff: float = 1.0
) -> np.ndarray:
    """The one-euro filter without lag: the mean of the forward pass and the backward pass over ``x`` (n, c).

    The clip is extended at both ends by its point reflection (as ``scipy.signal.filtfilt`` pads, but about a
    straight line fitted to the end, not about its last, noisy sample), so each pass has settled before it reaches
    the first or last frame and a clip that starts or ends in motion keeps it.
    """
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        return x.copy()
    pad = min(len(x) - 1, max(1, int(round(PAD_S * fps))))
    first, last = _end_value(x[: pad + 1]), _end_value(x[-pad - 1 :][::-1])
    padded = np.concatenate([2 * first - x[pad:0:-1], x, 2 * last - x[-2 : -pad - 2 : -1]])
    forward = one_euro(padded, fps, min_cutoff, beta, d_cutoff)
    backward = one_euro(padded[::-1], fps, min_cutoff, beta, d_cutoff)[::-1]
    return (0.5 * (forward + backward))[pad : pad + len(x)]


def step_delay(filtered: np.ndarray, step_at: float) -> float:
    """Frames by which the half-way crossing of a rising step in ``filtered`` (n,) comes after ``step_at``
    (the step's time in frames; a step between frames k-1 and k is at k - 0.5)."""
    lo, hi = float(filtered[0]), float(filtered[-1])
    half = 0.5 * (lo + hi)
    k = int(np.argmax(filtered >= half))
    crossing = k - 1 + (half - filtered[k - 1]) / (filtered[k] - filtered[k - 1]) if k > 0 else 0.0
    return crossing - step_at
