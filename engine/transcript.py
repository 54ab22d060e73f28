"""Phones from the dialogue text, aligned to the recording: espeak-ng speech warped onto the audio by DTW,
then re-aligned in the speaker's own spectrum.

espeak-ng speaks the transcript in its language; its phones (IPA) and their times in that synthetic speech
are exact. The synthetic speech is aligned to the real recording by dynamic time warping on spectral
features (the method of aeneas; Sakoe & Chiba, 1978): the log-mel spectrum less each voice's own mean over
its speech frames, its deltas, loudness, and what a small network trained on many voices hears in each frame
(the posteriors of 19 broad phone classes, engine.phone_classes), which is alike in any two voices saying the
same sound where their spectra are not. The warp runs twice: coarse (40 ms steps, a wide band around
the diagonal) and then fine (10 ms steps, a narrow corridor around the coarse path), so long lines stay
fast. Each step may advance the synthetic speech by 0 to 3 frames, and a pause of the recording is free to
wait on; espeak-ng's speaking rate is first set to the recording's, its pauses are cut short, and of its
default (male) and a female voice, the one that matches better is kept.

The warp is then refined by one pass of embedded re-estimation (as in HMM training): each phone of the text
gets a template, this speaker's mean spectrum over the middles of its occurrences in the warped alignment,
and the best monotone path through the text's phones against those templates moves each boundary to where
this voice changes sound (within 150 ms of the warp's guess).

A warp on the spectra alone (the posteriors left out) says whether the text is what is being said: each speech
frame's distance on its path is compared with its mean distance to all the synthetic speech (a ratio near 1: the
path found nothing better than chance). The mean ratio over the line flags another sentence or another language;
the share of half-second stretches that match badly flags a part of the line missing from the text. Then the
alignment is ``poor`` and the caller falls back to the audio alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
from scipy.ndimage import uniform_filter1d

from . import espeak, phone_classes
from .audio import ANALYSIS_RATE, SAMPLE_RATE, AudioFeatures, compute_features
from .ipa import features, is_bilabial_closure, letters
from .phonemes import PhoneSegment
from .progress import Progress, no_progress

# feature weights and path costs (set on espeak-ng, flite and Piper speech: scripts/eval_lips.py)
SPECTRUM_WEIGHT = 0.8
DELTA_WEIGHT = 0.6
LOUDNESS_WEIGHT = 3.0
CLASS_WEIGHT = 8.0  # the phone classifier's posteriors (engine.phone_classes); 8-12 were best on the tuning lines
STAY_PENALTY = 0.5  # distance units per frame the synthetic speech stands still inside speech
SKIP_PENALTY = 0.5  # per synthetic frame skipped
COARSE = 4  # analysis frames per coarse step
BAND_SECONDS = 8.0  # the coarse band's half width (at least; a quarter of the line when that is wider)
CORRIDOR = 12  # fine corridor half width in analysis frames
PAD_SECONDS = 0.2  # silence added around the synthetic speech
MAX_SYNTH_PAUSE = 12  # synthetic pauses are cut to this many frames before the warp
# the text does not match the audio when the mean ratio is above POOR_MEAN_RATIO, or when more than
# POOR_SHARE of the speech lies in half-second stretches whose ratio is above POOR_STRETCH_RATIO (a part
# of the line is not in the text); set on espeak-ng, flite and Piper speech, checked on festival's (README)
POOR_MEAN_RATIO = 0.575
POOR_STRETCH_RATIO = 0.65
POOR_SHARE = 0.2
STRETCH = ANALYSIS_RATE // 2  # half a second of speech frames
VOICE_VARIANTS = ("", "+f3")  # espeak-ng's default (male) voice and a female one
REFINE_PASSES = 1  # re-alignments in the speaker's own spectrum after the warp
REFINE_BAND = 15  # frames a phone may move in one of them
PHONE_SKIP_PENALTY = 10.0  # a phone of the text left out of the recording


@dataclass
class Alignment:
    """Phones of the transcript on the recording's time line, and how well the text matched."""

    phones: list[PhoneSegment]
    mean_ratio: float  # mean (path distance / chance distance) over speech frames
    poor_share: float  # share of speech frames in half-second stretches with a mean ratio over POOR_STRETCH_RATIO
    rate: int  # espeak-ng's speaking rate that matched the recording (words per minute)

    @property
    def good(self) -> bool:
        return self.mean_ratio <= POOR_MEAN_RATIO and self.poor_share <= POOR_SHARE


def spectral_features(feats: AudioFeatures) -> tuple[np.ndarray, np.ndarray]:
    """(frames, dims) alignment features and the speech mask of 100 Hz analysis features: the log-mel
    spectrum less its mean over the speech frames (each voice's own average timbre), scaled by its spread,
    its deltas, and loudness; silent frames keep only their loudness."""
    speech = feats.speech > 0.5
    mel = 10.0 * feats.logmel.astype(np.float64)  # dB/10 → dB
    db = 20 * np.log10(feats.rms.astype(np.float64) + 1e-6)
    frames = mel[speech] if speech.any() else mel
    spec = np.where(speech[:, None], (mel - frames.mean(axis=0)) / (frames.std() + 1e-6), 0.0)
    delta = np.zeros_like(spec)
    if len(spec) > 4:
        delta[2:-2] = (spec[4:] - spec[:-4] + 2 * (spec[3:-1] - spec[1:-3])) / 10.0
    loud = np.clip((db - np.percentile(db[speech] if speech.any() else db, 95)) / 40.0 + 1.0, 0.0, 1.0)
    out = np.concatenate([SPECTRUM_WEIGHT * spec, DELTA_WEIGHT * delta, LOUDNESS_WEIGHT * loud[:, None]], axis=1)
    return out.astype(np.float32), speech


def _alignment_features(feats: AudioFeatures) -> tuple[np.ndarray, np.ndarray]:
    """:func:`spectral_features` with the phone classifier's posteriors appended (their square roots, so that
    the distance between two frames grows as their classes differ; 0 in silence), weighted by CLASS_WEIGHT."""
    x, speech = spectral_features(feats)
    posteriors = np.zeros((len(x), len(phone_classes.CLASSES)))
    if speech.any():
        posteriors[speech] = np.sqrt(phone_classes.load()(x, speech))
    return np.concatenate([x, CLASS_WEIGHT * posteriors], axis=1).astype(np.float32), speech


def _pool(x: np.ndarray, k: int) -> np.ndarray:
    n = len(x) // k * k
    head = x[:n].reshape(len(x) // k, k, *x.shape[1:]).mean(axis=1)
    return np.concatenate([head, x[n:].mean(axis=0, keepdims=True)]) if n < len(x) else head


@numba.njit(cache=True)
def _dtw_kernel(x, y, lo, hi, stay_row, stay_col, skip_cost, free):  # pragma: no cover - compiled
    n, dims = x.shape
    offsets = np.zeros(n + 1, np.int64)
    for i in range(n):
        offsets[i + 1] = offsets[i] + hi[i] - lo[i]
    back = np.zeros(offsets[n], np.int8)
    dist = np.zeros(offsets[n], np.float64)
    prev = np.full(hi[0] - lo[0], np.inf)
    prev_lo = lo[0]
    for i in range(n):
        a, b = lo[i], hi[i]
        cur = np.full(b - a, np.inf)
        for j in range(a, b):
            d = 0.0
            if not free[i]:
                for k in range(dims):
                    diff = x[i, k] - y[j, k]
                    d += diff * diff
                d = np.sqrt(d)
            dist[offsets[i] + j - a] = d
            if i == 0:
                if j == 0:
                    cur[0] = d
                continue
            best, step = np.inf, 0
            for shift in range(4):
                src = j - shift - prev_lo
                if 0 <= src < len(prev):
                    value = prev[src]
                    if shift == 0:
                        value += stay_row[i] * stay_col[j]
                    elif shift > 1:
                        value += (shift - 1) * skip_cost
                    if value < best:
                        best, step = value, shift
            cur[j - a] = best + d
            back[offsets[i] + j - a] = step
        prev, prev_lo = cur, a
    path = np.zeros(n, np.int64)
    cost = np.zeros(n, np.float64)
    m = y.shape[0]
    j = m - 1
    if not (prev_lo <= j < prev_lo + len(prev)) or not np.isfinite(prev[j - prev_lo]):
        return path, cost, False
    for i in range(n - 1, -1, -1):
        path[i] = j
        cost[i] = dist[offsets[i] + j - lo[i]]
        j -= back[offsets[i] + j - lo[i]]
    return path, cost, True


def _dtw(
    x: np.ndarray,
    y: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    stay_row: np.ndarray,
    stay_col: np.ndarray,
    skip_cost: float,
    free: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Warp rows ``x`` (the recording) onto rows ``y`` inside columns ``[lo[i], hi[i])``.

    Each row advances the column by 0 (at ``stay_row[i] * stay_col[j]``), 1, 2 (at ``skip_cost``) or 3
    (twice that); rows marked ``free`` cost nothing wherever they go. The path starts at column 0 and ends
    at the last. Returns (column per row, distance per row), or None when no path fits.
    """
    free = np.zeros(len(x), np.bool_) if free is None else free.astype(np.bool_)
    path, cost, ok = _dtw_kernel(
        np.ascontiguousarray(x, np.float64),
        np.ascontiguousarray(y, np.float64),
        lo.astype(np.int64),
        hi.astype(np.int64),
        np.asarray(stay_row, np.float64),
        np.asarray(stay_col, np.float64),
        float(skip_cost),
        free,
    )
    return (path, cost) if ok else None


def _warp(x: np.ndarray, y: np.ndarray, real_speech: np.ndarray, synth_speech: np.ndarray) -> tuple | None:
    """Coarse-then-fine DTW of x onto y: (column per row, distance per row) or None."""
    n, m = len(x), len(y)
    xc, yc = _pool(x, COARSE), _pool(y, COARSE)
    rs_c, ss_c = _pool(real_speech.astype(float), COARSE) > 0.5, _pool(synth_speech.astype(float), COARSE) > 0.5
    nc, mc = len(xc), len(yc)
    centre = np.arange(nc) * (mc - 1) / max(nc - 1, 1)
    radius = max(BAND_SECONDS * ANALYSIS_RATE / COARSE, 0.25 * max(nc, mc))
    lo = np.clip(np.floor(centre - radius), 0, mc - 1).astype(int)
    hi = np.clip(np.ceil(centre + radius) + 1, 1, mc).astype(int)
    lo[0], hi[-1] = 0, mc
    coarse = _dtw(xc, yc, lo, hi, STAY_PENALTY * rs_c, ss_c, COARSE * SKIP_PENALTY)
    if coarse is None:
        return None
    centre = np.interp(np.arange(n) / COARSE, np.arange(nc), coarse[0].astype(float)) * COARSE
    lo = np.clip(np.minimum.accumulate((centre - CORRIDOR)[::-1])[::-1], 0, m - 1).astype(int)
    hi = np.clip(np.maximum.accumulate(centre + CORRIDOR + 1), 1, m).astype(int)
    lo[0], hi[-1] = 0, m
    return _dtw(x, y, lo, hi, STAY_PENALTY * real_speech, synth_speech, SKIP_PENALTY)


def _chance_distance(x: np.ndarray, y: np.ndarray, y_speech: np.ndarray) -> np.ndarray:
    """Each row's mean distance to (a sample of) the synthetic speech frames: what a random match costs."""
    cols = np.flatnonzero(y_speech)
    if len(cols) == 0:
        cols = np.arange(len(y))
    cols = cols[:: max(1, len(cols) // 400)]
    ys = y[cols].astype(np.float64)
    out = np.empty(len(x))
    for a in range(0, len(x), 2000):
        xa = x[a : a + 2000].astype(np.float64)
        sq = (xa**2).sum(1)[:, None] + (ys**2).sum(1)[None] - 2 * xa @ ys.T
        out[a : a + 2000] = np.sqrt(np.maximum(sq, 0)).mean(axis=1)
    return out


def _synthetic(text: str, language: str, rate: int) -> tuple[espeak.Speech, np.ndarray]:
    """espeak-ng speech of ``text`` at 16 kHz with 0.2 s of silence on both ends (float32)."""
    import soxr

    speech = espeak.synthesize(text, language, rate)
    audio = soxr.resample(speech.samples.astype(np.float32) / 32768.0, speech.sample_rate, SAMPLE_RATE)
    pad = np.zeros(int(PAD_SECONDS * SAMPLE_RATE), np.float32)
    return speech, np.concatenate([pad, audio.astype(np.float32), pad])


def _cut_pauses(speech: np.ndarray) -> np.ndarray:
    """Indices of the synthetic frames kept: every pause shortened to MAX_SYNTH_PAUSE frames (middle cut out)."""
    keep = np.ones(len(speech), bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[1], speech.astype(int), [1]])))
    for a, b in zip(edges[::2], edges[1::2]):  # runs of silence [a, b)
        if b - a > MAX_SYNTH_PAUSE:
            half = MAX_SYNTH_PAUSE // 2
            keep[a + half : b - (MAX_SYNTH_PAUSE - half)] = False
    return np.flatnonzero(keep)


def align_transcript(
    audio: np.ndarray,
    duration: float,
    text: str,
    language: str = "en",
    progress: Progress = no_progress,
    features: AudioFeatures | None = None,
) -> Alignment:
    """The phones of ``text`` (espeak-ng, ``language``) aligned to 16 kHz mono ``audio``.

    ``features``: the recording's features at the analysis rate, when the caller has them already. Runs on one
    BLAS thread: its matrix products are small, and a second thread spinning between them cost a third more CPU
    time for no faster result.
    """
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 (only the transcript path needs it)

    with threadpool_limits(1, user_api="blas"):
        return _align(audio, duration, text, language, progress, features)


def _align(
    audio: np.ndarray, duration: float, text: str, language: str, progress: Progress, features: AudioFeatures | None
) -> Alignment:
    report: Callable[[int, int, str], None] = progress
    report(0, 10, "phonemizing the transcript")
    real = features or compute_features(audio, duration, ANALYSIS_RATE, pitch=False)
    x, real_speech = _alignment_features(real)

    best = None
    for k, variant in enumerate(VOICE_VARIANTS):  # the synthetic voice closest to the speaker's wins
        warped = _align_voice(x, real_speech, text, language + variant)
        report(2 + 7 * (k + 1) // len(VOICE_VARIANTS), 10, "aligning the transcript")
        if warped is not None and (best is None or warped[0] < best[0]):
            best = warped
    if best is None:
        return Alignment([], 1.0, 1.0, espeak.DEFAULT_RATE)
    mean_ratio, poor_share, rate, speech, kept, synth_speech_all, path = best
    synth_frame = kept[path]  # for each recording frame, the synthetic frame it matches
    labels = _synthetic_labels(speech.phones, synth_speech_all, len(synth_speech_all))
    per_frame = labels[synth_frame]  # the phone of each recording frame (-1: a pause of the synthetic speech)
    names = [p.name for p in speech.phones]
    for _pass in range(REFINE_PASSES):
        per_frame = _reestimate(x, real_speech, names, per_frame)
    phones = _segments(names, per_frame)
    report(10, 10, "aligning the transcript")
    return Alignment(phones, mean_ratio, poor_share, rate)


def _align_voice(x: np.ndarray, real_speech: np.ndarray, text: str, voice: str) -> tuple | None:
    """Warp espeak-ng's ``voice`` speaking ``text`` onto the recording's features ``x``.

    Returns (mean ratio, poor share, rate, synthetic Speech, kept synthetic frames, synthetic speech mask,
    path) or None when no path fits."""
    n_real_speech = max(int(real_speech.sum()), 1)
    rate = espeak.DEFAULT_RATE
    for _attempt in range(3):  # espeak-ng's speaking rate set to the recording's
        speech, synth_audio = _synthetic(text, voice, rate)
        synth = compute_features(synth_audio, len(synth_audio) / SAMPLE_RATE, ANALYSIS_RATE, pitch=False)
        synth_speech_frames = int((synth.speech > 0.5).sum())
        wanted = int(np.clip(round(rate * synth_speech_frames / n_real_speech), espeak.MIN_RATE, espeak.MAX_RATE))
        if abs(wanted - rate) <= 0.08 * rate:
            break
        rate = wanted
    y_all, synth_speech_all = _alignment_features(synth)
    kept = _cut_pauses(synth_speech_all)
    y, synth_speech = y_all[kept], synth_speech_all[kept]
    if not (real_speech.any() and synth_speech.any()):
        return None
    # whether the text is what is said: judged on the spectra alone, on their own warp (the thresholds' features)
    spectra = x.shape[1] - len(phone_classes.CLASSES)
    xs, ys = x[:, :spectra], y[:, :spectra]
    judged = _warp(xs, ys, real_speech, synth_speech)
    warped = _warp(x, y, real_speech, synth_speech)  # where the phones are: with the classes' posteriors
    if judged is None or warped is None:
        return None
    path = warped[0]
    ratio = judged[1] / np.maximum(_chance_distance(xs, ys, synth_speech), 1e-9)
    ratio_speech = ratio[real_speech]
    stretches = uniform_filter1d(ratio_speech, min(STRETCH, len(ratio_speech)), mode="nearest")
    poor_share = float((stretches > POOR_STRETCH_RATIO).mean())
    return float(ratio_speech.mean()), poor_share, rate, speech, kept, synth_speech_all, path


def _synthetic_labels(phones: list[espeak.Phone], speech: np.ndarray, n: int) -> np.ndarray:
    """Index of the phone sounding in each synthetic frame, -1 where the synthetic speech is silent."""
    labels = np.full(n, -1)
    for k, p in enumerate(phones):
        a = int(round((p.start + PAD_SECONDS) * ANALYSIS_RATE))
        b = int(round((p.end + PAD_SECONDS) * ANALYSIS_RATE))
        labels[max(0, a) : max(0, min(n, b))] = k
    labels[~speech] = -1
    return labels


def _spans(per_frame: np.ndarray, k_count: int) -> tuple[np.ndarray, np.ndarray]:
    """First frame and frame after the last of each phone in a per-frame labelling; a phone without frames
    gets an empty span where it would be."""
    reached = np.maximum.accumulate(np.where(per_frame >= 0, per_frame, -1))
    starts = np.searchsorted(reached, np.arange(k_count), side="left")
    ends = np.searchsorted(reached, np.arange(k_count), side="right")
    return starts, np.maximum(ends, starts)


def _templates(x: np.ndarray, speech: np.ndarray, names: list[str], per_frame: np.ndarray) -> np.ndarray:
    """This speaker's spectrum for each phone of the text: the mean of the middle halves of every occurrence of
    the same phone in the current alignment; a phone without one takes its class's mean (vowel, consonant)."""
    keys = [letters(name) for name in names]
    kinds = [features(name).kind for name in names]
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    starts, ends = _spans(per_frame, len(names))
    for k, key in enumerate(keys):
        a, b = starts[k], ends[k]
        quarter = (b - a) // 4
        frames = np.arange(a + quarter, b - quarter)
        frames = frames[speech[frames] & (per_frame[frames] == k)]
        if len(frames):
            for group in (key, kinds[k], "speech"):
                sums[group] = sums.get(group, 0.0) + x[frames].sum(axis=0)
                counts[group] = counts.get(group, 0) + len(frames)
    fallback = x[speech].mean(axis=0) if speech.any() else x.mean(axis=0)
    out = np.empty((len(names), x.shape[1]), np.float32)
    for k, key in enumerate(keys):
        group = key if key in counts else kinds[k] if kinds[k] in counts else "speech"
        out[k] = sums[group] / counts[group] if group in counts else fallback
    return out


def _reestimate(x: np.ndarray, speech: np.ndarray, names: list[str], per_frame: np.ndarray) -> np.ndarray:
    """One pass of re-alignment in the speaker's own spectrum (embedded re-estimation): phone templates from
    the current alignment (_templates), then the best monotone path through the text's phones, each phone
    within REFINE_BAND frames of where it was. Pauses of the recording cost nothing."""
    k_count = len(names)
    if k_count == 0 or not speech.any():
        return per_frame
    starts, ends = _spans(per_frame, k_count)
    frames = np.arange(len(x))
    lo = np.minimum(np.searchsorted(ends + REFINE_BAND, frames, side="right"), k_count - 1)
    hi = np.maximum(np.searchsorted(starts - REFINE_BAND, frames, side="right"), lo + 1)
    lo[0], hi[-1] = 0, k_count
    lo = np.minimum.accumulate(lo[::-1])[::-1]
    hi = np.maximum.accumulate(hi)
    templates = _templates(x, speech, names, per_frame)
    found = _dtw(x, templates, lo, hi, np.zeros(len(x)), np.zeros(k_count), PHONE_SKIP_PENALTY, ~speech)
    return per_frame if found is None else found[0]


def _segments(names: list[str], per_frame: np.ndarray) -> list[PhoneSegment]:
    """Phone segments of a per-frame labelling; a p/b/m the path stepped over keeps its place with no length
    (it still closes the lips: engine.lips gives closures a minimum length)."""
    out: list[PhoneSegment] = []
    edges = np.flatnonzero(np.diff(per_frame)) + 1
    bounds = np.concatenate([[0], edges, [len(per_frame)]])
    seen = set()
    for a, b in zip(bounds[:-1], bounds[1:]):
        k = int(per_frame[a])
        if k >= 0:
            out.append(PhoneSegment(names[k], a / ANALYSIS_RATE, b / ANALYSIS_RATE))
            seen.add(k)
    starts, _ends = _spans(per_frame, len(names))
    for k, name in enumerate(names):
        if k not in seen and is_bilabial_closure(name):
            out.append(PhoneSegment(name, starts[k] / ANALYSIS_RATE, starts[k] / ANALYSIS_RATE))
    return sorted(out, key=lambda seg: seg.start)
