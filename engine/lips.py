"""Lip sync: speech → visemes → continuous, editable mouth channels.

Phones from the recognizer (engine.phonemes) are mapped to Rhubarb-style visemes
(A closed p/b/m, B teeth, C open, D wide open, E rounded-open, F puckered, G f/v,
H l, X rest) and to target values of four channels. The acoustic side carries
the timing and the size: loudness and the first-formant region of the spectrum
scale the opening frame by frame, speech activity closes the mouth in pauses.
Coarticulation: shapes shorter than 30 ms are held out (no flutter), neighbouring
shapes are blended by smoothing, and the centred analysis windows let the mouth
reach a shape as its sound starts; bilabials and stop closures still close the
lips fully. For speech the recognizer cannot follow (other languages, music)
the acoustic side leads.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, minimum_filter1d

from .audio import ANALYSIS_RATE, compute_features, frame_count
from .mouth_calibration import calibrate_opening
from .phonemes import PhoneSegment, recognize

CHANNELS = ["mouth_open", "mouth_wide", "mouth_round", "lips_closed"]
SMOOTH_SIGMA = 0.02  # seconds

# viseme → (mouth_open, mouth_wide, mouth_round, lips_closed)
VISEME_TARGETS: dict[str, tuple[float, float, float, float]] = {
    "A": (0.0, 0.2, 0.0, 1.0),
    "B": (0.18, 0.55, 0.0, 0.0),
    "C": (0.5, 0.5, 0.0, 0.0),
    "D": (0.9, 0.35, 0.0, 0.0),
    "E": (0.45, 0.1, 0.5, 0.0),
    "F": (0.22, 0.0, 0.95, 0.0),
    "G": (0.1, 0.35, 0.0, 0.35),
    "H": (0.35, 0.4, 0.0, 0.0),
    "X": (0.0, 0.25, 0.0, 0.7),
}

PHONE_VISEMES: dict[str, str] = {
    **dict.fromkeys(["P", "B", "M"], "A"),
    **dict.fromkeys(["F", "V"], "G"),
    "L": "H",
    **dict.fromkeys(["W", "UW", "OW", "OY", "UH"], "F"),
    **dict.fromkeys(["AO", "ER"], "E"),
    **dict.fromkeys(["AA", "AW", "AY"], "D"),
    **dict.fromkeys(["AE", "EH", "AH", "EY", "HH"], "C"),
    **dict.fromkeys(
        ["IY", "IH", "Y", "K", "G", "NG", "S", "Z", "SH", "ZH", "CH", "JH", "T", "D", "N", "TH", "DH", "R"], "B"
    ),
}
OPEN_VISEMES = "CDEH"
# phones made with the tongue tip up at the teeth or the ridge behind them (CMU and IPA symbols)
TONGUE_TIP_PHONES = frozenset({"L", "N", "T", "D", "TH", "DH", "l", "n", "t", "d", "θ", "ð", "ɾ", "ɫ"})


def viseme_of(phone: str) -> str:
    return PHONE_VISEMES.get(phone, "X")


def _viseme_track(segments: list[PhoneSegment], n: int) -> np.ndarray:
    """Viseme letter per 10 ms analysis frame."""
    track = np.full(n, "X", dtype="<U1")
    for seg in segments:
        a = int(round(seg.start * ANALYSIS_RATE))
        b = int(round(seg.end * ANALYSIS_RATE))
        track[max(0, a) : max(0, min(n, b))] = viseme_of(seg.phone)
    return track


def _acoustic_opening(logmel: np.ndarray, rms: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """0..1 opening: loudness times the share of energy in ~300–1200 Hz, where the
    first formant of open vowels lies (closed vowels and consonants put less there)."""
    db = 20 * np.log10(rms + 1e-6)
    talk = speech > 0.5
    if not talk.any():
        return np.zeros_like(rms)
    top = np.percentile(db[talk], 95)
    loud = np.clip((db - (top - 30.0)) / 30.0, 0.0, 1.0)
    power = 10.0 ** logmel.astype(np.float64)
    share = power[:, 4:16].sum(axis=1) / (power.sum(axis=1) + 1e-12)
    return np.clip(loud * share * 1.6, 0.0, 1.0) * talk


def _closures(rms: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """Frames of short energy dips inside speech (stop closures, nasal murmurs)."""
    db = 20 * np.log10(rms + 1e-6)
    around = maximum_filter1d(db, size=15)  # loudest within ±70 ms
    dip = (around - db > 12.0) & (minimum_filter1d(speech, size=15) > 0.5)
    return dip


def _runs(track: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of equal visemes."""
    if len(track) == 0:
        return []
    edges = np.flatnonzero(track[1:] != track[:-1]) + 1
    bounds = np.concatenate([[0], edges, [len(track)]])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def _hold_short_runs(track: np.ndarray, min_len: int) -> np.ndarray:
    """Replace runs shorter than ``min_len`` frames (except closures) by the previous viseme: no flutter."""
    out = track.copy()
    for i, j in _runs(track):
        if j - i < min_len and track[i] != "A" and i > 0:
            out[i:j] = out[i - 1]
    return out


def generate_lips(
    audio: np.ndarray,
    duration: float,
    fps: float,
    strength: float = 1.0,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[np.ndarray, list[str], list[dict]]:
    """Mouth channels (n, 4) at ``fps`` for 16 kHz mono ``audio``, plus visemes.

    Returns ``(frames, CHANNELS, visemes)`` with ``n = ceil(duration * fps)`` and
    visemes as ``{"start", "end", "shape"}`` in seconds.
    """
    report = progress or (lambda d, t, m: None)
    feats = compute_features(audio, duration, ANALYSIS_RATE, lambda d, t, m: report(d, 4 * t, m), pitch=False)
    n = feats.n_frames
    speech = feats.speech
    segments = recognize(audio, lambda d, t, m: report(t + 3 * d, 4 * t, m)) if speech.max() > 0 else []
    track = _hold_short_runs(_viseme_track(segments, n), 3)
    track[speech < 0.5] = "X"

    targets = np.array([VISEME_TARGETS[v] for v in track], dtype=np.float64).reshape(n, 4)
    acoustic = _acoustic_opening(feats.logmel, feats.rms, speech)
    # lips close on recognized bilabials and on short stop closures between open sounds
    closed = (track == "A") | (_closures(feats.rms, speech) & ~np.isin(track, list(OPEN_VISEMES)))
    chans = np.empty((n, 4))
    chans[:, 0] = np.where(closed, 0.0, 0.25 * targets[:, 0] + 0.65 * acoustic)
    chans[:, 1] = targets[:, 1]
    chans[:, 2] = targets[:, 2]
    chans[:, 3] = np.where(closed, 1.0, np.where(speech < 0.5, 0.8, targets[:, 3] * 0.5))

    # coarticulation: the analysis windows (32 ms, centred) already let the mouth lead the
    # sound by ~10-20 ms; smoothing blends neighbouring shapes; closures survive it
    chans = gaussian_filter1d(chans, sigma=SMOOTH_SIGMA * ANALYSIS_RATE, axis=0, mode="nearest")
    chans[closed, 3] = np.maximum(chans[closed, 3], 0.9)
    chans[closed, 0] = np.minimum(chans[closed, 0], 0.05)
    chans = np.clip(chans, 0.0, 1.0)
    chans[:, 0] = calibrate_opening(chans[:, 0], speech)  # to millimetres of a real face: engine.mouth_calibration
    chans[:, 0] = np.clip(chans[:, 0] * float(strength), 0.0, 1.0)

    frames = _to_video(chans, n, duration, fps)
    report(4, 4, "lip sync done")
    return frames.astype(np.float32), list(CHANNELS), mark_tongue_tip(_visemes(track), segments)


def _to_video(chans: np.ndarray, n_an: int, duration: float, fps: float) -> np.ndarray:
    """Pool 100 Hz channels onto video frames: mean, but a closure anywhere in a frame shows."""
    n = frame_count(duration, fps)
    idx = np.arange(n)
    starts = np.clip(np.ceil(idx * ANALYSIS_RATE / fps - 0.5).astype(int), 0, n_an - 1)
    stops = np.clip(np.ceil((idx + 1) * ANALYSIS_RATE / fps - 0.5).astype(int), starts + 1, n_an)
    csum = np.concatenate([np.zeros((1, 4)), np.cumsum(chans, axis=0)])
    out = (csum[stops] - csum[starts]) / (stops - starts)[:, None]
    closed = np.array([chans[a:b, 3].max() for a, b in zip(starts, stops)])
    shut = closed >= 0.9
    out[shut, 3] = closed[shut]
    out[shut, 0] = np.array([chans[a:b, 0].min() for a, b in zip(starts[shut], stops[shut])])
    return out


def mark_tongue_tip(visemes: list[dict], segments: list[PhoneSegment]) -> list[dict]:
    """Split viseme entries where a tongue-tip phone (l, n, t, d, th: ``TONGUE_TIP_PHONES``) starts or ends and mark
    the parts it covers with ``"tongue": true`` (the renderer raises the tongue tip there). Closed lips and rest
    show no tongue. Entries keep their order and cover the same time."""
    spans = sorted((round(p.start, 3), round(p.end, 3)) for p in segments if p.phone in TONGUE_TIP_PHONES)
    spans = [(a, b) for a, b in spans if b > a]
    if not spans:
        return visemes
    starts = np.array([a for a, _ in spans])
    out = []
    for v in visemes:
        if v["shape"] in "AX":
            out.append(v)
            continue
        near = spans[max(0, int(np.searchsorted(starts, v["start"])) - 1) : int(np.searchsorted(starts, v["end"]))]
        near = [(a, b) for a, b in near if b > v["start"] and a < v["end"]]
        cuts = sorted({v["start"], v["end"], *(t for a, b in near for t in (a, b) if v["start"] < t < v["end"])})
        for a, b in zip(cuts[:-1], cuts[1:]):
            piece = {**v, "start": a, "end": b}
            if any(s <= (a + b) / 2 < e for s, e in near):
                piece["tongue"] = True
            out.append(piece)
    return out


def _visemes(track: np.ndarray) -> list[dict]:
    out = [
        {"start": round(i / ANALYSIS_RATE, 3), "end": round(j / ANALYSIS_RATE, 3), "shape": str(track[i])}
        for i, j in _runs(track)
    ]
    return [v for v in out if v["end"] > v["start"]]
