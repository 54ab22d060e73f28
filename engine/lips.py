"""Lip sync: speech → visemes → continuous, editable mouth channels.

Phones come from one of two sources: the dialogue text aligned to the audio (engine.transcript, any
language espeak-ng speaks) or the recognizer (engine.phonemes, English). Either way they are IPA, and one
table of articulatory features (engine.ipa) maps them to Rhubarb-style visemes
(A closed p/b/m, B teeth, C open, D wide open, E rounded-open, F puckered, G f/v,
H l, X rest) and to target values of four channels. The acoustic side carries
the timing and the size: loudness and the first-formant region of the spectrum
scale the opening frame by frame, speech activity closes the mouth in pauses.
Coarticulation: shapes shorter than 30 ms are held out (no flutter), neighbouring
shapes are blended by smoothing, and the centred analysis windows let the mouth
reach a shape as its sound starts; bilabials and stop closures still close the
lips fully. The opening is calibrated to millimetres of a real face (engine.mouth_calibration). For
speech the recognizer cannot follow (other languages without their text, music) the acoustic side leads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, minimum_filter1d

from .audio import ANALYSIS_RATE, AudioFeatures, compute_features, frame_count, require_speech
from .ipa import REST, is_tongue_tip, shape
from .mouth_calibration import calibrate_opening
from .phonemes import PhoneSegment, recognize

CHANNELS = ["mouth_open", "mouth_wide", "mouth_round", "lips_closed"]
SMOOTH_SIGMA = 0.02  # seconds
OPEN_VISEMES = "CDEH"
BILABIAL_MIN_FRAMES = 3  # a p/b/m closes the lips for at least 30 ms however short its alignment
CLOSURE_MAX_OPENING = 0.5  # acoustic opening above which a transcript's p/b/m does not hold the lips shut
# mouth_open = phone target × weight + acoustic opening × weight, by where the phones came from: recognized
# phones are often wrong, so loudness and spectrum lead; a transcript's phones are right, so they lead more
OPEN_MIX = {"recognized": (0.25, 0.65), "transcript": (0.6, 0.4)}
# seconds a transcript's mouth shapes come before its phones: the aligner's times sit on the phones (median
# boundary error -4 to +8 ms on flite and Piper), and the mouth one frame ahead of them followed the phones
# better on the tuning lines (0.818 -> 0.824; half a frame 0.821, two 0.798), as lips move ahead of the sound
TRANSCRIPT_LEAD = 0.01


def _phone_tracks(segments: list[PhoneSegment], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Viseme letter and channel targets (n, 4) per 10 ms analysis frame; bilabials drawn last and at
    least BILABIAL_MIN_FRAMES long, so that no p/b/m is lost to a neighbour."""
    track = np.full(n, "X", dtype="<U1")
    targets = np.tile(np.array(REST.targets), (n, 1))
    bilabial = []
    for seg in segments:
        a = max(0, int(round(seg.start * ANALYSIS_RATE)))
        b = max(0, min(n, int(round(seg.end * ANALYSIS_RATE))))
        mouth = shape(seg.phone)
        if mouth.viseme == "A":
            bilabial.append((a, b, mouth))
            continue
        track[a:b] = mouth.viseme
        targets[a:b] = mouth.targets
    for a, b, mouth in bilabial:
        if b - a < BILABIAL_MIN_FRAMES:
            mid = (a + b) // 2
            a, b = max(0, mid - BILABIAL_MIN_FRAMES // 2), min(n, mid - BILABIAL_MIN_FRAMES // 2 + BILABIAL_MIN_FRAMES)
        track[a:b] = mouth.viseme
        targets[a:b] = mouth.targets
    return track, targets


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


def _open_sound_ends_closures(
    track: np.ndarray, targets: np.ndarray, acoustic: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A p/b/m of the transcript does not close the lips over a loud open sound (an alignment a little off):
    its frames whose acoustic opening exceeds CLOSURE_MAX_OPENING take the neighbouring shape (the one before
    in its first half, the one after in its second), and each closure keeps at least BILABIAL_MIN_FRAMES, its
    quietest ones."""
    out, held = track.copy(), targets.copy()
    for i, j in _runs(track):
        if track[i] != "A":
            continue
        loud = acoustic[i:j] > CLOSURE_MAX_OPENING
        if not loud.any():
            continue
        keep = ~loud
        if keep.sum() < BILABIAL_MIN_FRAMES:
            quietest = np.argsort(acoustic[i:j], kind="stable")[:BILABIAL_MIN_FRAMES]
            keep[quietest] = True
        after = min(j, len(track) - 1)
        before = max(i - 1, 0)
        for k in np.flatnonzero(~keep):
            source = after if k >= (j - i) // 2 else before
            out[i + k], held[i + k] = track[source], targets[source]
    return out, held


def _hold_short_runs(track: np.ndarray, targets: np.ndarray, min_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Replace runs shorter than ``min_len`` frames (except closures) by the previous shape: no flutter."""
    out, held = track.copy(), targets.copy()
    for i, j in _runs(track):
        if j - i < min_len and track[i] != "A" and i > 0:
            out[i:j] = out[i - 1]
            held[i:j] = held[i - 1]
    return out, held


def generate_lips(
    audio: np.ndarray,
    duration: float,
    fps: float,
    strength: float = 1.0,
    progress: Callable[[int, int, str], None] | None = None,
    phones: list[PhoneSegment] | None = None,
    features: AudioFeatures | None = None,
) -> tuple[np.ndarray, list[str], list[dict]]:
    """Mouth channels (n, 4) at ``fps`` for 16 kHz mono ``audio``, plus visemes.

    ``phones``: the transcript's phones aligned to the audio (engine.transcript); None: recognize them
    (English). ``features``: the audio's features at the analysis rate when the caller has them already. Returns ``(frames, CHANNELS, visemes)`` with
    ``n = ceil(duration * fps)`` and visemes as ``{"start", "end", "shape"}`` in seconds
    (``"tongue": true`` where the tongue tip is up). ``mouth_open`` is in units of 30 mm of lip aperture
    (engine.mouth_calibration).
    """
    report = progress or (lambda d, t, m: None)
    feats = features or compute_features(
        audio, duration, ANALYSIS_RATE, lambda d, t, m: report(d, 4 * t, m), pitch=False
    )
    require_speech(feats)
    n = feats.n_frames
    speech = feats.speech
    source = "transcript" if phones is not None else "recognized"
    if phones is None:
        phones = recognize(audio, lambda d, t, m: report(t + 3 * d, 4 * t, m)) if speech.max() > 0 else []
    else:  # the mouth a little ahead of the text's phones (TRANSCRIPT_LEAD)
        phones = [
            replace(p, start=max(0.0, p.start - TRANSCRIPT_LEAD), end=max(0.0, p.end - TRANSCRIPT_LEAD)) for p in phones
        ]
    track, targets = _hold_short_runs(*_phone_tracks(phones, n), 3)
    track[speech < 0.5] = "X"
    targets[speech < 0.5] = REST.targets

    acoustic = _acoustic_opening(feats.logmel, feats.rms, speech)
    if source == "transcript":
        track, targets = _open_sound_ends_closures(track, targets, acoustic)
    closed = track == "A"
    if source == "recognized":  # unsure phones: short stop closures between open sounds close the lips too
        closed |= _closures(feats.rms, speech) & ~np.isin(track, list(OPEN_VISEMES))
    w_phone, w_acoustic = OPEN_MIX[source]
    chans = np.empty((n, 4))
    chans[:, 0] = np.where(closed, 0.0, w_phone * targets[:, 0] + w_acoustic * acoustic)
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
    return frames.astype(np.float32), list(CHANNELS), mark_tongue_tip(_visemes(track), phones)


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
    """Split viseme entries where a tongue-tip phone (l, n, t, d, th in any language: ``engine.ipa.is_tongue_tip``)
    starts or ends and mark the parts it covers with ``"tongue": true`` (the renderer raises the tongue tip there).
    Closed lips and rest show no tongue. Entries keep their order and cover the same time."""
    spans = sorted((round(p.start, 3), round(p.end, 3)) for p in segments if is_tongue_tip(p.phone))
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
