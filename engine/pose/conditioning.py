"""Conditions of the latent denoiser: "then" segments of the prompt, audio pooled to the latent rate, progress.

A prompt such as "nods slowly, then looks to the left" is split into time segments
(the same sequencing words as engine.styles); each latent token is conditioned on the
embedding of the whole prompt plus that of the segment it falls in (equal time
segments over the clip, soft borders), and on its relative position in the clip. Where the
parts have moods of their own ("calm, then excited", as engine.styles reads them), the
sampler's windows in each part are conditioned on that part instead of the whole prompt
(:func:`part_prompts`, the plan in engine.pose.windows): the corpus's lines keep one mood, so a whole prompt naming
two moods conditions every window on a blend of them.

A sentence embedding hardly tells "left" from "right" in unfamiliar phrasings, so each
segment also carries its screen direction read from its words (:func:`segment_direction`):
-1 for left, +1 for right, 0 for neither or both ("side to side"). The embedding says
what to do (look, tilt, ...), the direction says to which side. Likewise an embedding reads "keep it composed"
or "barely moving" only loosely as calm, so each segment also carries the mood the keyword parser reads for it
(:func:`segment_moods`, one-hot over :data:`MOOD_FEATURES`; neutral: zeros).
"""

from __future__ import annotations

import re

import numpy as np

from ..styles import _SPLIT, MOODS, check_prompt, modifies_previous, parse_prompt, segment_weights
from .vae import DOWN

MAX_SEGMENTS = 3
MOOD_FEATURES = tuple(m for m in MOODS if m != "neutral")  # one feature each; neutral is none of them
# features appended to each segment embedding: its screen direction, then its mood (weights trained with fewer
# features read the first ones: 1, the direction alone)
SEGMENT_FEATURES = 1 + len(MOOD_FEATURES)
# "right"/"left" in phrases that name no side ("right now", "that's right", "left over")
_NO_SIDE = re.compile(
    r"\b(?:right (?:now|away|here|there|then|after|before|on time)|all right|(?:that's|that is|you're|you are|"
    r"exactly|just|quite) right|left (?:behind|over|alone|unsaid))\b"
)
_LEFT = re.compile(r"\bleft")
_RIGHT = re.compile(r"\bright")


def segment_direction(text: str) -> float:
    """Screen direction of a prompt piece: -1 left, +1 right, 0 neither or both (viewer's left/right)."""
    t = _NO_SIDE.sub(" ", text.lower().replace("\u2019", "'"))
    left, right = _LEFT.search(t) is not None, _RIGHT.search(t) is not None
    return -1.0 if left and not right else (1.0 if right and not left else 0.0)


def mood_features(mood: str) -> np.ndarray:
    """One-hot of ``mood`` over MOOD_FEATURES (neutral or unknown: zeros)."""
    return np.array([1.0 if mood == m else 0.0 for m in MOOD_FEATURES], np.float32)


def segment_features(embedding: np.ndarray, text: str, mood: str) -> np.ndarray:
    """A segment's condition: its sentence embedding, its screen direction, its mood (SEGMENT_FEATURES in all)."""
    head = np.asarray(embedding, np.float32)
    return np.concatenate([head, [segment_direction(text)], mood_features(mood)]).astype(np.float32)


def segment_moods(prompt: str) -> list[str]:
    """The mood of each piece of :func:`segment_texts` as the keyword parser reads the whole prompt: a part's own
    where the prompt names two ("calm, then excited"), else the prompt's one mood for every part."""
    pieces = segment_texts(prompt)
    style = parse_prompt(prompt)
    moods = style.segment_moods()
    return moods if len(moods) == len(pieces) else [style.mood] * len(pieces)


def segment_texts(prompt: str) -> list[str]:
    """The prompt's pieces between sequencing words (1..MAX_SEGMENTS); modifier pieces ("then slowly") join the one
    before (:func:`engine.styles.modifies_previous`)."""
    text = check_prompt(prompt)
    pieces = [p.strip(" ,") for p in _SPLIT.split(text)]
    out: list[str] = []
    for piece in pieces:
        if not piece:
            continue
        if out and modifies_previous(piece.lower(), out[-1].lower()):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    if not out:
        out = [text]
    if len(out) > MAX_SEGMENTS:
        out = out[: MAX_SEGMENTS - 1] + [" ".join(out[MAX_SEGMENTS - 1 :])]
    return out


def part_prompts(prompt: str) -> list[str] | None:
    """Where the prompt's "then" parts have moods of their own ("calm, then excited": engine.styles), each part as
    a prompt of its own (a part without a mood word led by the mood it inherits), for the windows that fall in it;
    None where one mood holds for the whole prompt (the whole prompt conditions every window)."""
    pieces = segment_texts(prompt)
    segments = parse_prompt(prompt).segments
    if len(segments) != len(pieces) or all(s.mood is None for s in segments):
        return None
    out = []
    for piece, segment in zip(pieces, segments):
        own = parse_prompt(piece).mood
        out.append(piece if own == segment.mood else f"{segment.mood}, {piece}")
    return out


def token_segment_weights(positions: np.ndarray, total: float, count: int, ramp_frames: float) -> np.ndarray:
    """(len(positions), MAX_SEGMENTS) soft membership of frame positions in ``count`` equal segments of ``total``,
    crossing over in ``ramp_frames`` (the model's config.segment_ramp_frames)."""
    w = np.zeros((len(positions), MAX_SEGMENTS), np.float32)
    w[:, :count] = segment_weights(positions, total, max(1, count), max(1.0, ramp_frames))
    return w


def pool_audio(matrix: np.ndarray, n_tokens: int) -> np.ndarray:
    """(n_frames, F) → (n_tokens, DOWN * F): the frames of each latent token side by side (zero padded)."""
    f = matrix.shape[1]
    padded = np.zeros((n_tokens * DOWN, f), np.float32)
    m = min(len(matrix), n_tokens * DOWN)
    padded[:m] = matrix[:m]
    return padded.reshape(n_tokens, DOWN * f)


def token_conditions(n_frames: int, count: int, ramp_frames: float) -> tuple[np.ndarray, np.ndarray]:
    """Per latent token of a clip of ``n_frames``: segment weights (T, MAX_SEGMENTS) and progress (T,) in 0..1."""
    n_tokens = -(-n_frames // DOWN)
    centres = np.arange(n_tokens) * DOWN + DOWN / 2.0
    weights = token_segment_weights(centres, float(n_frames), count, ramp_frames)
    progress = np.clip(centres / max(1.0, float(n_frames)), 0.0, 1.0).astype(np.float32)
    return weights, progress
