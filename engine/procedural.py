"""The procedural teacher: prosody-driven, speech-coupled head motion from a Style.

Written from published findings on talking head motion: head movement tracks
prosody (nods and beats fall on pitch accents and energy peaks, the head rises
with pitch), motion calms in pauses, amplitudes are a few degrees, and most energy
lies below ~3 Hz. A prompt's Style adds the requested actions (nod, shake, tilt,
look, lean) segment by segment, and a mood sets posture, amplitude and tempo.

It is seedable and deterministic per seed. It is the first pose backend and the
generator of the training corpus for the learned pose model.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import butter, find_peaks, sosfiltfilt

from .audio import AudioFeatures
from .motion import speech_envelope
from .styles import Segment, Style, segment_weights

ACTION_RAMP_S = 0.35  # seconds over which one "then" segment's action hands over to the next

# mood → (amplitude, tempo, posture offset [pitch, yaw, roll] in degrees, beat rate)
MOODS: dict[str, tuple[float, float, tuple[float, float, float], float]] = {
    "neutral": (1.0, 1.0, (0.0, 0.0, 0.0), 1.0),
    "calm": (0.4, 0.7, (0.0, 0.0, 0.0), 0.5),
    "energetic": (1.8, 1.35, (1.0, 0.0, 0.0), 1.6),
    "sad": (0.5, 0.65, (-9.0, 0.0, 2.5), 0.6),
    "confident": (1.1, 0.9, (4.0, 0.0, 0.0), 1.0),
    "thinking": (0.5, 0.7, (5.0, -8.0, 6.0), 0.6),
}

# action → offsets reached and held during the segment [pitch, yaw, roll, x, y, scale-1]
OFFSETS: dict[str, tuple[float, float, float, float, float, float]] = {
    "tilt_left": (0.0, 0.0, 11.0, 0.0, 0.0, 0.0),
    "tilt_right": (0.0, 0.0, -11.0, 0.0, 0.0, 0.0),
    "look_left": (0.0, -18.0, 0.0, -0.04, 0.0, 0.0),
    "look_right": (0.0, 18.0, 0.0, 0.04, 0.0, 0.0),
    "look_up": (13.0, 0.0, 0.0, 0.0, 0.03, 0.0),
    "look_down": (-13.0, 0.0, 0.0, 0.0, -0.03, 0.0),
    "lean_in": (-2.0, 0.0, 0.0, 0.0, -0.04, 0.13),
    "lean_back": (2.0, 0.0, 0.0, 0.0, 0.03, -0.09),
}
# action → (channel, frequency Hz, amplitude deg) of the requested oscillation
OSCILLATIONS = {"nod": (0, 1.9, 6.0), "shake": (1, 2.3, 8.0)}


def _lowpass(x: np.ndarray, fps: float, cutoff: float) -> np.ndarray:
    cutoff = min(cutoff, 0.45 * fps)
    if len(x) < 16:
        return gaussian_filter1d(x, sigma=max(1.0, fps / (2 * math.pi * cutoff)), axis=0, mode="nearest")
    sos = butter(2, cutoff, btype="low", fs=fps, output="sos")
    pad = min(len(x) - 1, int(fps * 2))
    return sosfiltfilt(sos, x, axis=0, padlen=pad)


def _smooth_noise(rng: np.random.Generator, n: int, fps: float, cutoff: float, channels: int) -> np.ndarray:
    """Unit-variance noise with its energy below ``cutoff`` Hz."""
    white = rng.standard_normal((n + int(4 * fps), channels))
    out = _lowpass(white, fps, cutoff)[int(2 * fps) : int(2 * fps) + n]
    std = out.std(axis=0, keepdims=True) if n > 1 else np.ones((1, channels))
    return out / np.maximum(std, 1e-6)


def _segment_weights(n: int, count: int, fps: float) -> np.ndarray:
    """(count, n) soft membership of each frame in each of ``count`` equal time segments (0.35 s crossovers)."""
    return segment_weights(np.arange(n), n, count, max(1.0, ACTION_RAMP_S * fps)).T


def _beat_kernel(fps: float, tau: float) -> tuple[np.ndarray, int]:
    """A nod pulse t·exp(1 − t/τ) and the index of its extreme."""
    t = np.arange(int(math.ceil(5 * tau * fps)) + 1) / fps
    k = (t / tau) * np.exp(1 - t / tau)
    return k, int(round(tau * fps))


def accent_frames(features: AudioFeatures, rate: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Frames of prominent accents (onset × energy peaks inside speech) and their strengths 0..1."""
    fps = features.fps
    rms = features.rms.astype(np.float64)
    loud = rms / (np.percentile(rms[features.speech > 0.5], 90) + 1e-9) if (features.speech > 0.5).any() else rms * 0
    onset = features.onset.astype(np.float64)
    onset = onset / (np.percentile(onset[onset > 0], 90) + 1e-9) if (onset > 0).any() else onset
    voiced_boost = 0.6 + 0.4 * features.voiced
    salience = gaussian_filter1d(onset * np.clip(loud, 0, 2) * voiced_boost, sigma=max(0.5, 0.03 * fps))
    salience *= features.speech > 0.5
    if not salience.any():
        return np.zeros(0, int), np.zeros(0)
    distance = max(1, int(0.42 * fps / max(rate, 0.2)))
    threshold = 0.12 * salience.max()
    peaks, props = find_peaks(salience, distance=distance, prominence=threshold)
    # strength ramps up from zero at the threshold, so a small change of the audio (a
    # trim, a rounding of the fps) cannot make a whole nod appear or vanish
    prom = props["prominences"]
    strength = np.clip((prom - threshold) / (np.percentile(prom, 90) - threshold + 1e-9), 0.0, 1.3)
    return peaks, strength


def _posture(mood: str, action: str, to_side: bool) -> tuple[float, float, float]:
    """The mood's posture [pitch, yaw, roll] for a segment doing ``action``: a posture that leans to one side
    (thinking: up and to the viewer's left) leans to the action's side where the action asks for the right
    (``to_side``; False: the teacher the shipped pose weights learned from, which always leaned left)."""
    pitch, yaw, roll = MOODS.get(mood, MOODS["neutral"])[2]
    if to_side and action.endswith("_right"):
        return pitch, -yaw, -roll
    return pitch, yaw, roll


def _mood_profile(
    style: Style, weights: np.ndarray, posture_to_side: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: the mood's amplitude, tempo, posture (n, 3) and beat rate, each segment's own mood (and posture)
    blended over the segments' crossovers (``weights``: (count, n)); segments alike give constant rows."""
    moods = style.segment_moods()
    rows = []
    for mood, segment in zip(moods, style.segments):
        amp, tempo, _, beats = MOODS.get(mood, MOODS["neutral"])
        rows.append((amp, tempo, *_posture(mood, segment.action, posture_to_side), beats))
    rows = np.array(rows)
    alike = (rows == rows[0]).all()
    per_frame = np.repeat(rows[:1], weights.shape[1], axis=0) if alike else weights.T @ rows
    return per_frame[:, 0], per_frame[:, 1], per_frame[:, 2:5], per_frame[:, 5]


def generate_motion(features: AudioFeatures, style: Style, seed: int = 0, posture_to_side: bool = True) -> np.ndarray:
    """Head pose frames (n, 6): pitch, yaw, roll (deg), x, y (face heights), scale.

    A mood sets amplitude, tempo, posture and beat rate; where the prompt's segments have moods of their own
    ("still, then excited") each segment's holds in its stretch, handing over in the segments' crossovers.
    """
    n, fps = features.n_frames, features.fps
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x9051])
    weights = _segment_weights(n, len(style.segments), fps)
    amp_mood, tempo_mood, posture, beat_rate = _mood_profile(style, weights, posture_to_side)
    amp_frames = style.amplitude * amp_mood * rng.uniform(0.85, 1.15)
    tempo_frames = style.speed * tempo_mood * rng.uniform(0.9, 1.1)
    amp_of = {k: float(a) for k, a in enumerate(amp_frames[_segment_middles(weights)])}
    tempo_of = {k: float(t) for k, t in enumerate(tempo_frames[_segment_middles(weights)])}
    amp = amp_frames[:, None]
    env = speech_envelope(features.speech, features.fps)
    gain = 0.35 + 0.65 * env  # the head calms in pauses

    motion = np.zeros((n, 6))
    # 1. slow idle drift (< 0.35 Hz): a person is never perfectly still
    drift = _segment_noise(rng, fps, 0.3, tempo_of, weights, 3) * np.array([1.6, 2.0, 0.9])
    motion[:, :3] += drift * amp * (0.6 + 0.4 * gain[:, None])

    # 2. prosody: the head rises with pitch (f0 relative to the speaker's median, in octaves)
    voiced = features.f0 > 0
    if voiced.sum() > 3:
        lf0 = np.zeros(n)
        lf0[voiced] = np.log2(features.f0[voiced] / np.median(features.f0[voiced]))
        lf0 = np.interp(np.arange(n), np.flatnonzero(voiced), lf0[voiced]) * env
        motion[:, 0] += gaussian_filter1d(lf0, sigma=0.12 * fps) * 5.0 * amp[:, 0]

    # 3. beats: a nod-like pulse on each accent, its extreme on the accent (accents as often as the mood of the
    # segment they fall in asks)
    peaks, strength = _accents(features, beat_rate * tempo_frames, weights)
    impulses = np.zeros((n, 3))
    sign_yaw = rng.choice([-1.0, 1.0], size=len(peaks))
    for p, s, sy in zip(peaks, strength, sign_yaw):
        kernel, lead = _beat_kernel(fps, 0.16 / math.sqrt(tempo_frames[p]))
        start = p - lead
        a, b = max(0, start), min(n, start + len(kernel))
        if b <= a:
            continue
        k = kernel[a - start : b - start] * s * rng.uniform(0.7, 1.3)
        impulses[a:b, 0] -= k * 4.0  # pitch dips (a nod down) on the accent
        impulses[a:b, 1] += k * 1.5 * sy * rng.uniform(0.3, 1.0)
        impulses[a:b, 2] += k * 0.5 * rng.normal()
    motion[:, :3] += impulses * amp

    # 4. the prompt's actions, segment by segment, and the mood's posture
    t = np.arange(n) / fps
    ease = _ease_in(n, fps, 0.6 / max(0.5, tempo_of[0]))[:, None]
    for k, (w, seg) in enumerate(zip(weights, style.segments)):
        motion += w[:, None] * ease * _action(seg, t, env, fps, rng, amp_of[k], tempo_of[k])
    motion[:, :3] += posture * min(1.5, style.amplitude) * _ease_in(n, fps)[:, None]

    # 5. translation follows rotation (the head moves as it turns) plus a small sway
    sway = _segment_noise(rng, fps, 0.4, tempo_of, weights, 3) * np.array([0.006, 0.004, 0.004]) * amp
    motion[:, 3] += 0.0012 * motion[:, 1] + sway[:, 0]
    motion[:, 4] += 0.0010 * motion[:, 0] + sway[:, 1]
    motion[:, 5] += sway[:, 2]

    motion = _lowpass(motion, fps, 3.0)
    motion[:, 5] += 1.0
    return motion.astype(np.float32)


def _segment_noise(
    rng: np.random.Generator, fps: float, cutoff: float, tempo_of: dict[int, float], weights: np.ndarray, channels: int
) -> np.ndarray:
    """Unit-variance slow noise below ``cutoff`` × tempo Hz: with one tempo for the line, one noise; with a tempo per
    segment, each segment's own noise in its stretch (so a calm segment stays slow beside an excited one)."""
    n = weights.shape[1]
    tempos = [tempo_of[k] for k in range(len(weights))]
    if len(set(tempos)) == 1:
        return _smooth_noise(rng, n, fps, cutoff * tempos[0], channels)
    return sum(w[:, None] * _smooth_noise(rng, n, fps, cutoff * t, channels) for w, t in zip(weights, tempos))


def _segment_middles(weights: np.ndarray) -> np.ndarray:
    """The middle frame of each segment (``weights``: (count, n))."""
    count, n = weights.shape
    return np.minimum(((np.arange(count) + 0.5) * n / count).astype(int), n - 1)


def _accents(features: AudioFeatures, rate: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accent frames and strengths at the per-frame beat ``rate``: with one rate, :func:`accent_frames`; with
    several, each segment's accents at its own rate, kept where that segment has most weight."""
    middles = _segment_middles(weights)
    rates = rate[middles]
    if np.allclose(rates, rates[0]):
        return accent_frames(features, float(rates[0]))
    owner = weights.argmax(axis=0)
    peaks, strength = [], []
    for k, r in enumerate(rates):
        p, s = accent_frames(features, float(r))
        keep = owner[p] == k
        peaks.append(p[keep])
        strength.append(s[keep])
    return np.concatenate(peaks).astype(int), np.concatenate(strength)


def _ease_in(n: int, fps: float, seconds: float = 0.6) -> np.ndarray:
    t = np.arange(n) / fps
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(t / seconds, 0.0, 1.0))


def _action(
    seg: Segment, t: np.ndarray, env: np.ndarray, fps: float, rng: np.random.Generator, amp: float, tempo: float
) -> np.ndarray:
    """(n, 6) motion of one action (offsets in scale-1 units for the last channel)."""
    n = len(t)
    out = np.zeros((n, 6))
    a = seg.amplitude * min(amp, 1.6) / max(0.4, min(amp, 1.6)) ** 0.5  # actions stay visible when calm
    speed = seg.speed * tempo
    if seg.action in OSCILLATIONS:
        ch, freq, deg = OSCILLATIONS[seg.action]
        freq = freq * speed**0.8 * rng.uniform(0.88, 1.12)
        phase = 2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)
        burst = 0.55 + 0.45 * env  # keeps going in short pauses, stronger in speech
        out[:, ch] = np.sin(phase) * deg * a * burst * rng.uniform(0.85, 1.15)
        out[:, 1 - ch] = np.sin(phase * 0.5 + rng.uniform(0, 6)) * deg * 0.12 * a  # a little cross-talk
    elif seg.action in OFFSETS:
        target = np.array(OFFSETS[seg.action]) * a * rng.uniform(0.85, 1.15)
        wobble = _smooth_noise(rng, n, fps, 0.6 * speed, 1)[:, 0] * 0.08
        out[:] = target[None, :] * (1.0 + wobble[:, None])
    return out
