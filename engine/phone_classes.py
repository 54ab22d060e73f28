"""Broad phone classes per 10 ms frame, for the transcript aligner: a small network's posteriors.

The aligner (engine.transcript) matches espeak-ng's speech of the text to the recording by their spectra, which
differ between any two voices even where they say the same sound. This network was trained on speech of many voices
and languages whose phone times are known (espeak-ng's voices in 15 languages, flite's slt, rms and awb, the Piper
voice; ``scripts/train_phone_classes.py``, one seed), to say which of 19 broad classes of sound each frame holds:
silence, the places and manners of consonants that show on the lips and teeth, and vowels by height and rounding
(:func:`phone_class`, from the IPA features of engine.ipa, so one table for every language). Its posteriors are
the same kind of evidence in every voice, so appended to both sides' features they make the two voices' frames of
one sound look alike (a posteriorgram, as in query-by-example speech search).

Inference is numpy only (two hidden layers in float32, on one BLAS thread, so the same frames always give the same
posteriors), so the lip sync does not load torch.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from .errors import BadInput
from .ipa import features
from .safetensors_file import check_header, decode_metadata

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "phone_classes.safetensors")
CONTEXT = 5  # frames on each side the network sees (±50 ms)
CLASSES = (
    "pause", "bilabial", "labiodental", "dental", "sibilant", "postalveolar", "stop", "nasal", "lateral", "rhotic",
    "glide", "fricative", "close vowel", "mid vowel", "open-mid vowel", "open vowel", "close rounded vowel",
    "mid rounded vowel", "open rounded vowel",
)  # fmt: skip


def phone_class(phone: str) -> int:
    """The index in :data:`CLASSES` of an IPA phone (``""`` and pauses: 0)."""
    f = features(phone) if phone else None
    if f is None or f.kind == "pause":
        return 0
    if f.kind == "vowel":
        h = f.height
        if f.rounded:
            return 16 if h <= 1 else 17 if h <= 3 else 18
        return 12 if h <= 1 else 13 if h <= 3 else 14 if h == 4 else 15
    place, manner = f.place, f.manner
    if place == "bilabial":
        return 1
    if place == "labiodental":
        return 2
    if place == "dental":
        return 3
    if place == "alveolar" and manner == "fricative":
        return 4
    if place == "postalveolar" or (place == "retroflex" and manner == "fricative"):
        return 5
    if manner == "stop":
        return 6
    if manner == "nasal":
        return 7
    if manner == "lateral":
        return 8
    if manner in ("trill", "tap") or (manner == "approximant" and place in ("alveolar", "retroflex")):
        return 9
    if place == "labial-velar" or (place == "palatal" and manner == "approximant"):
        return 10
    return 11


def with_context(x: np.ndarray) -> np.ndarray:
    """(n, d) frames → (n, (2·CONTEXT + 1)·d): each frame with its neighbours (the ends repeated)."""
    n = len(x)
    padded = np.concatenate([np.repeat(x[:1], CONTEXT, 0), x, np.repeat(x[-1:], CONTEXT, 0)])
    return np.concatenate([padded[k : k + n] for k in range(2 * CONTEXT + 1)], axis=1)


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU in its tanh form (the network was trained with it; erf is three times slower in numpy)."""
    inner = x * x
    inner *= np.float32(0.044715 * 0.7978845608028654)
    inner += np.float32(0.7978845608028654)
    inner *= x
    np.tanh(inner, out=inner)
    inner += 1.0
    inner *= x
    inner *= 0.5
    return inner


class PhoneClassifier:
    """The network: ``layers`` as (weight (out, in), bias) pairs of a GELU MLP with a softmax out."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], metadata: dict[str, object]) -> None:
        self.layers = layers
        self.metadata = metadata

    @property
    def input_size(self) -> int:
        return int(self.layers[0][0].shape[1])

    def __call__(self, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Posteriors (n, len(CLASSES)) of frames ``x`` (n, d): engine.transcript's spectral features; with the mask
        ``rows`` only those frames' (the others' neighbours still count as their context)."""
        from threadpoolctl import threadpool_limits

        h = with_context(np.asarray(x, np.float32))
        if rows is not None:
            h = h[rows]
        if h.shape[1] != self.input_size:
            raise ValueError(f"the phone classifier takes {self.input_size} inputs, not {h.shape[1]}")
        with threadpool_limits(1, user_api="blas"):  # a second BLAS thread saves 10 % of the time for twice the CPU
            for k, (w, b) in enumerate(self.layers):
                h = h @ w.T + b
                if k < len(self.layers) - 1:
                    h = _gelu(h)
        h = h.astype(np.float64)
        h -= h.max(axis=1, keepdims=True)
        p = np.exp(h)
        # rounded, so that the last bits of the sums (which differ between BLAS builds) rarely reach the alignment
        return np.round(p / p.sum(axis=1, keepdims=True), 5)


@lru_cache(maxsize=2)
def load(path: str = WEIGHTS) -> PhoneClassifier:
    """The shipped classifier (cached); BadInput for a missing or corrupt file."""
    from safetensors import SafetensorError, safe_open

    if not os.path.isfile(path):
        raise BadInput(f"phone classifier weights not found: {path} (rebuild them with `make weights`)")
    check_header(path)
    try:
        with safe_open(path, framework="numpy") as fh:
            tensors = {k: fh.get_tensor(k).astype(np.float32) for k in fh.keys()}
            raw = fh.metadata()
    except (SafetensorError, OSError, ValueError) as exc:
        raise BadInput(f"phone classifier weights are corrupt or not safetensors: {path}") from exc
    count = len([k for k in tensors if k.endswith(".weight")])
    layers = [(tensors[f"layer{k}.weight"], tensors[f"layer{k}.bias"]) for k in range(count)]
    return PhoneClassifier(layers, decode_metadata(raw))
