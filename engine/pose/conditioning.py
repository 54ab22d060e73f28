"""Conditions of the latent denoiser: "then" segments of the prompt, audio pooled to the latent rate, progress.

A prompt such as "nods slowly, then looks to the left" is split into time segments
(the same sequencing words as engine.styles); each latent token is conditioned on the
embedding of the whole prompt plus that of the segment it falls in (equal time
segments over the clip, soft borders), and on its relative position in the clip.
"""

from __future__ import annotations

import numpy as np

from ..styles import _SPLIT, _segment_action, check_prompt, segment_weights
from .vae import DOWN

MAX_SEGMENTS = 3
# Width of the crossover between two "then" segments, in pose frames at 25 fps, that the shipped weights were
# trained with: 1.75 frames (70 ms), sharper than the teacher's own 0.35 s ramp (procedural.ACTION_RAMP_S).
# A change of this value needs retrained weights.
SEGMENT_RAMP_FRAMES = 1.75


def segment_texts(prompt: str) -> list[str]:
    """The prompt's pieces between sequencing words (1..MAX_SEGMENTS); short modifier pieces join the previous."""
    text = check_prompt(prompt)
    pieces = [p.strip(" ,") for p in _SPLIT.split(text)]
    out: list[str] = []
    for piece in pieces:
        if not piece:
            continue
        if out and len(piece.split()) <= 2 and _segment_action(piece.lower()) == "none":
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    if not out:
        out = [text]
    if len(out) > MAX_SEGMENTS:
        out = out[: MAX_SEGMENTS - 1] + [" ".join(out[MAX_SEGMENTS - 1 :])]
    return out


def token_segment_weights(positions: np.ndarray, total: float, count: int) -> np.ndarray:
    """(len(positions), MAX_SEGMENTS) soft membership of frame positions in ``count`` equal segments of ``total``."""
    w = np.zeros((len(positions), MAX_SEGMENTS), np.float32)
    w[:, :count] = segment_weights(positions, total, max(1, count), max(1.0, SEGMENT_RAMP_FRAMES))
    return w


def pool_audio(matrix: np.ndarray, n_tokens: int) -> np.ndarray:
    """(n_frames, F) → (n_tokens, DOWN * F): the frames of each latent token side by side (zero padded)."""
    f = matrix.shape[1]
    padded = np.zeros((n_tokens * DOWN, f), np.float32)
    m = min(len(matrix), n_tokens * DOWN)
    padded[:m] = matrix[:m]
    return padded.reshape(n_tokens, DOWN * f)


def token_conditions(n_frames: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per latent token of a clip of ``n_frames``: segment weights (T, MAX_SEGMENTS) and progress (T,) in 0..1."""
    n_tokens = -(-n_frames // DOWN)
    centres = np.arange(n_tokens) * DOWN + DOWN / 2.0
    weights = token_segment_weights(centres, float(n_frames), count)
    progress = np.clip(centres / max(1.0, float(n_frames)), 0.0, 1.0).astype(np.float32)
    return weights, progress
