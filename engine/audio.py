"""Audio in: decode any common file to 16 kHz mono and compute per-frame features.

Loading streams the file in blocks (bounded memory for long recordings); features
are computed on a fixed 100 Hz analysis grid in chunks and then pooled onto the
video frame grid, where frame ``i`` covers ``[i / fps, (i + 1) / fps)`` exactly and
there are ``ceil(duration * fps)`` frames.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import native
from .errors import BadInput, EngineError
from .params import AUDIO_MAX_SECONDS, FPS
from .progress import Progress, no_progress, scaled

SAMPLE_RATE = 16000
HOP = 160  # 10 ms analysis hop: the internal 100 Hz grid
ANALYSIS_RATE = SAMPLE_RATE // HOP
WIN = 512  # 32 ms analysis window for the spectrum
YIN_WIN = 640  # 40 ms window for pitch (covers two periods of 50 Hz... down to 60 Hz)
N_MELS = 40
MATRIX_SPEECH_COLUMN = N_MELS + 4  # the speech activity's column in AudioFeatures.matrix()
F0_MIN, F0_MAX = 60.0, 450.0
DECODE_SHARE = 0.2  # of load_features' progress bar; the analysis (the pitch tracker) takes the rest
CHUNK_FRAMES = 2000  # 20 s of analysis frames per chunk (a chunk is the longest stretch between cancel checks)
MIN_SPEECH_SECONDS = 0.2  # shorter audio holds no line of speech


def check_fps(fps: float) -> float:
    """Return ``fps`` as float or raise BadInput if it is not a usable frame rate."""
    return float(FPS.check(fps))


def frame_count(duration: float, fps: float) -> int:
    """Number of video frames for ``duration`` seconds: ``ceil(duration * fps)``."""
    return max(0, math.ceil(duration * fps - 1e-9))


def _check_file(path: str) -> None:
    if not path:
        raise BadInput("no audio file given")
    if not os.path.exists(path):
        raise BadInput(f"audio file not found: {path}")
    if os.path.isdir(path):
        raise BadInput(f"audio path is a folder, not a file: {path}")
    if os.path.getsize(path) == 0:
        raise BadInput(f"audio file is empty (0 bytes): {path}")


def _stream_soundfile(path: str, progress: Progress) -> tuple[np.ndarray, float] | None:
    """Decode with libsndfile (wav, flac, ogg, mp3). None if it cannot read the file."""
    import soundfile as sf
    import soxr

    try:
        with native.quiet_stderr():  # the MP3 decoder prints notes about broken headers
            info = sf.info(path)
    except Exception:
        return None
    if info.frames <= 0 or info.samplerate <= 0:
        raise BadInput(f"audio file has no samples: {path}")
    duration = info.frames / info.samplerate
    if duration > AUDIO_MAX_SECONDS:
        raise BadInput(f"audio is {duration / 60:.0f} minutes long; the limit is {AUDIO_MAX_SECONDS / 60:.0f} minutes")
    out = np.empty(math.ceil(duration * SAMPLE_RATE) + SAMPLE_RATE, dtype=np.float32)
    n_out = 0
    stream = soxr.ResampleStream(info.samplerate, SAMPLE_RATE, 1, dtype="float32")
    block = info.samplerate * 10
    done = 0
    try:
        blocks = sf.blocks(path, blocksize=block, dtype="float32", always_2d=True)
        while True:
            with native.quiet_stderr():
                chunk = next(blocks, None)
            if chunk is None:
                break
            mono = finite(chunk.mean(axis=1, dtype=np.float32))
            done += len(mono)
            res = stream.resample_chunk(mono, last=done >= info.frames)
            out[n_out : n_out + len(res)] = res
            n_out += len(res)
            progress(done, info.frames, "decoding audio")
    except EngineError:  # bad input found on the way, or a cancel from the progress callback
        raise
    except Exception as exc:
        raise BadInput(f"audio file is corrupt or unreadable: {path} ({exc})") from None
    if done < info.frames:
        tail = stream.resample_chunk(np.zeros(0, np.float32), last=True)
        out[n_out : n_out + len(tail)] = tail
        n_out += len(tail)
    n_exact = min(n_out, round(duration * SAMPLE_RATE))
    return out[:n_exact].copy(), duration


def finite(samples: np.ndarray) -> np.ndarray:
    """``samples`` with non-finite values (NaN, ±inf) replaced by the line between their finite neighbours
    (zeros where no sample is finite): a few broken samples do not poison the rest of the file."""
    bad = ~np.isfinite(samples)
    if not bad.any():
        return samples
    good = np.flatnonzero(~bad)
    out = samples.copy()
    out[bad] = np.interp(np.flatnonzero(bad), good, samples[good]) if good.size else 0.0
    return out


def probe(path: str) -> float:
    """Duration in seconds of the first audio stream of ``path`` as ffmpeg sees it (the tool that muxes it into
    videos); BadInput when ffmpeg finds no audio in it."""
    _check_file(path)
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise BadInput("ffprobe (part of ffmpeg) is not installed: it is needed to read the audio")
    cmd = [ffprobe, "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=codec_type:format=duration"]
    proc = subprocess.run([*cmd, "-of", "json", path], capture_output=True, text=True, check=False)
    try:
        info = json.loads(proc.stdout or "{}")
        streams = info.get("streams") or []
        duration = float(info.get("format", {}).get("duration") or 0.0)
    except (ValueError, AttributeError):
        streams, duration = [], 0.0
    if proc.returncode != 0 or not streams or not duration > 0:
        raise BadInput(f"not an audio file this engine can read: {path}")
    return duration


def _decode_ffmpeg(path: str) -> tuple[np.ndarray, float]:
    """Decode anything else ffmpeg understands (m4a, aac, video containers)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise BadInput(f"not an audio file this engine can read (install ffmpeg for more formats): {path}")
    cmd = [ffmpeg, "-v", "error", "-nostdin", "-i", path, "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE)]
    cmd += ["-t", str(AUDIO_MAX_SECONDS), "-f", "f32le", "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        raise BadInput(f"not an audio file this engine can read: {path}")
    audio = finite(np.frombuffer(proc.stdout, dtype=np.float32).copy())
    return audio, len(audio) / SAMPLE_RATE


def _select(
    audio: np.ndarray, full: float, offset: float, duration: float | None, path: str
) -> tuple[np.ndarray, float]:
    """The part ``[offset, offset + duration)`` of decoded audio (clipped to the file)."""
    offset = float(offset or 0.0)
    if not math.isfinite(offset) or offset < 0:
        raise BadInput(f"audio offset must be >= 0 seconds, got {offset}")
    if offset >= full:
        raise BadInput(f"audio offset {offset:.2f} s is past the end of the file ({full:.2f} s): {path}")
    end = full if duration is None else min(full, offset + float(duration))
    if not end > offset:
        raise BadInput(f"audio duration must be > 0 seconds, got {duration}")
    if offset == 0.0 and end == full:
        return audio, full
    a, b = int(round(offset * SAMPLE_RATE)), int(round(end * SAMPLE_RATE))
    return audio[a:b].copy(), end - offset


def load_audio(
    path: str, progress: Progress = no_progress, offset: float = 0.0, duration: float | None = None
) -> tuple[np.ndarray, float]:
    """Decode ``path`` to 16 kHz mono float32.

    ``offset``/``duration`` (seconds) select a part of the file, as a trimmed
    sequencer strip does. Returns ``(samples, duration)`` where ``duration`` is the
    selected length in seconds. Raises BadInput for a missing, empty, corrupt, too
    long or sample-less file, or a range outside it.
    """
    path = os.fspath(path)
    _check_file(path)
    decoded = _stream_soundfile(path, progress)
    audio, full = decoded if decoded is not None else _decode_ffmpeg(path)
    if len(audio) == 0 or full <= 0:
        raise BadInput(f"audio file has no samples: {path}")
    return _select(audio, full, offset, duration, path)


@dataclass
class AudioFeatures:
    """Per-frame features on the video grid (``n`` frames at ``fps``).

    ``logmel``: (n, 40) log mel energies; ``rms``: linear RMS; ``f0``: Hz, 0 where
    unvoiced; ``voiced`` and ``speech``: fraction of the frame that is voiced / speech
    (0..1); ``onset``: spectral-flux onset strength (max over the frame).
    """

    fps: float
    duration: float
    logmel: np.ndarray
    rms: np.ndarray
    f0: np.ndarray
    voiced: np.ndarray
    onset: np.ndarray
    speech: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.rms.shape[0])

    @property
    def is_silent(self) -> bool:
        return bool(self.speech.max(initial=0.0) < 0.5)

    def slice(self, start: int, stop: int) -> AudioFeatures:
        """Frames ``[start, stop)`` as a new AudioFeatures (same fps)."""
        return AudioFeatures(
            fps=self.fps,
            duration=max(0.0, min(self.duration, stop / self.fps) - start / self.fps),
            logmel=self.logmel[start:stop],
            rms=self.rms[start:stop],
            f0=self.f0[start:stop],
            voiced=self.voiced[start:stop],
            onset=self.onset[start:stop],
            speech=self.speech[start:stop],
        )

    def matrix(self) -> np.ndarray:
        """Normalized conditioning matrix (n, 46) for learned models.

        Columns: 40 log-mel (per-file standardized), log-RMS, log-f0 (centred on the
        file's median), voiced, onset (scaled to the file's 95th percentile), speech,
        f0 slope.
        """
        mel = self.logmel - self.logmel.mean(axis=0, keepdims=True)
        mel = mel / (self.logmel.std() + 1e-5)
        log_rms = np.log10(self.rms + 1e-5)
        log_rms = (log_rms - np.percentile(log_rms, 95)) / 2.0
        voiced_f0 = self.f0[self.f0 > 0]
        ref = np.median(voiced_f0) if voiced_f0.size else 150.0
        lf0 = np.where(self.f0 > 0, np.log2(np.maximum(self.f0, 1.0) / ref), 0.0)
        slope = np.gradient(lf0) if len(lf0) > 1 else np.zeros_like(lf0)
        scale = np.percentile(self.onset, 95) + 1e-5 if self.onset.size else 1.0
        onset = np.clip(self.onset / scale, 0.0, 3.0)
        cols = [mel, log_rms[:, None], lf0[:, None], self.voiced[:, None], onset[:, None]]
        cols += [self.speech[:, None], np.clip(slope, -1, 1)[:, None] * 4]
        return np.concatenate(cols, axis=1).astype(np.float32)


def require_speech(features: AudioFeatures, path: str = "") -> None:
    """The one rule of every op that listens to speech: the audio (or its selected part) must hold some.

    Pauses inside speech are fine; audio with no speech at all (digital silence, a hum, samples that were all
    NaN) or shorter than MIN_SPEECH_SECONDS is refused with one clear line.
    """
    where = f" ({path})" if path else ""
    if features.duration < MIN_SPEECH_SECONDS:
        raise BadInput(
            f"the audio is only {features.duration:.2f} s long: a line of speech needs at least "
            f"{MIN_SPEECH_SECONDS:g} s{where}"
        )
    if features.is_silent:
        raise BadInput(f"no speech in the audio: it is silent or holds no voice{where}")


_MEL_LINEAR_HZ = 200.0 / 3.0  # Slaney's mel scale: linear below 1 kHz (15 mels per 1,000 Hz) ...
_MEL_LOG_STEP = math.log(6.4) / 27.0  # ... and logarithmic above it


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, np.float64)
    log_part = 1000.0 / _MEL_LINEAR_HZ + np.log(np.maximum(hz, 1e-10) / 1000.0) / _MEL_LOG_STEP
    return np.where(hz >= 1000.0, log_part, hz / _MEL_LINEAR_HZ)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    knee = 1000.0 / _MEL_LINEAR_HZ
    return np.where(mel >= knee, 1000.0 * np.exp(_MEL_LOG_STEP * (mel - knee)), mel * _MEL_LINEAR_HZ)


@lru_cache(maxsize=1)
def _mel_basis() -> np.ndarray:
    """(N_MELS, WIN // 2 + 1) triangular filters on Slaney's mel scale, each of unit area (the filterbank the
    pose model was trained on; numpy only, so the first job does not import a signal-processing library)."""
    fft_hz = np.fft.rfftfreq(WIN, 1.0 / SAMPLE_RATE)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(60.0), _hz_to_mel(7600.0), N_MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    basis = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    basis *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    basis.flags.writeable = False
    return basis


def _frames(padded: np.ndarray, n: int, width: int, offset: int) -> np.ndarray:
    """(n, width) strided view: frame k starts at ``offset + k * HOP``."""
    from numpy.lib.stride_tricks import as_strided

    s = padded.strides[0]
    return as_strided(padded[offset:], shape=(n, width), strides=(HOP * s, s), writeable=False)


def _yin(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized YIN: (f0 in Hz, aperiodicity 0..1) per frame."""
    n, w = frames.shape
    tau_min = int(SAMPLE_RATE / F0_MAX)
    tau_max = int(SAMPLE_RATE / F0_MIN)
    x = frames - frames.mean(axis=1, keepdims=True)
    size = 1 << int(math.ceil(math.log2(2 * w)))
    spec = np.fft.rfft(x, size, axis=1)
    acf = np.fft.irfft(spec * np.conj(spec), size, axis=1)[:, : tau_max + 2]
    energy = np.cumsum(x * x, axis=1)
    total = energy[:, -1:]
    # d(tau) = sum_{j<w-tau} (x_j - x_{j+tau})^2 with shrinking overlap
    taus = np.arange(tau_max + 2)
    e_head = np.concatenate([total, total - energy[:, : tau_max + 1]], axis=1)  # energy of x[tau:]
    e_tail = np.concatenate([total, energy[:, w - 2 :: -1][:, : tau_max + 1]], axis=1)  # energy of x[:w-tau]
    d = e_head + e_tail - 2 * acf
    d[:, 0] = 0.0
    cums = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * taus[1:] / np.maximum(cums, 1e-12)
    search = cmnd[:, tau_min : tau_max + 1]
    below = search < 0.15
    first = np.where(below.any(axis=1), below.argmax(axis=1), search.argmin(axis=1))
    # walk to the local minimum after the first dip under threshold
    idx = first.copy()
    for _ in range(8):
        nxt = np.minimum(idx + 1, search.shape[1] - 1)
        better = search[np.arange(n), nxt] < search[np.arange(n), idx]
        idx = np.where(better, nxt, idx)
    ap = search[np.arange(n), idx]
    ap = np.where((idx == 0) | (idx == search.shape[1] - 1), 1.0, ap)  # a minimum at the search edge is no pitch
    # parabolic interpolation of the period
    left = search[np.arange(n), np.maximum(idx - 1, 0)]
    right = search[np.arange(n), np.minimum(idx + 1, search.shape[1] - 1)]
    denom = left - 2 * ap + right
    shift = np.where(np.abs(denom) > 1e-9, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
    period = tau_min + idx + np.clip(shift, -1, 1)
    f0 = SAMPLE_RATE / np.maximum(period, 1.0)
    return f0.astype(np.float32), np.clip(ap, 0.0, 1.0).astype(np.float32)


def _analysis_chunk(
    audio: np.ndarray, k0: int, k1: int, mel_basis: np.ndarray, pitch: bool = True
) -> dict[str, np.ndarray]:
    """Features on the 100 Hz grid for analysis frames ``[k0, k1)``.

    Frame k is centred at sample ``k * HOP + HOP // 2``; windows reach into the
    neighbouring chunks, so the result does not depend on chunking.
    """
    n = k1 - k0
    half = max(WIN, YIN_WIN) // 2
    start = k0 * HOP + HOP // 2 - half
    stop = (k1 - 1) * HOP + HOP // 2 + half
    seg = np.zeros(stop - start, dtype=np.float32)
    a, b = max(0, start), min(len(audio), stop)
    if b > a:
        seg[a - start : b - start] = audio[a:b]
    spec_frames = _frames(seg, n, WIN, half - WIN // 2)
    window = np.hanning(WIN + 1)[:-1].astype(np.float32)
    power = np.abs(np.fft.rfft(spec_frames * window, axis=1)) ** 2
    mel = power @ mel_basis.T
    logmel = np.log10(mel + 1e-8).astype(np.float32)
    rms_frames = _frames(seg, n, 2 * HOP, half - HOP)
    rms = np.sqrt(np.mean(rms_frames.astype(np.float64) ** 2, axis=1)).astype(np.float32)
    if pitch:
        f0, ap = _yin(_frames(seg, n, YIN_WIN, half - YIN_WIN // 2).astype(np.float64))
    else:
        f0, ap = np.zeros(n, np.float32), np.ones(n, np.float32)
    return {"logmel": logmel, "rms": rms, "f0": f0, "ap": ap}


def _speech_activity(rms: np.ndarray, ap: np.ndarray) -> np.ndarray:
    """Energy-based voice activity on the 100 Hz grid with an adaptive threshold."""
    from scipy.ndimage import binary_closing, binary_opening, maximum_filter1d

    db = 20 * np.log10(rms + 1e-6)
    peak = np.percentile(db, 99)
    floor = np.percentile(db, 10)
    threshold = max(floor + 10.0, peak - 40.0, -65.0)
    active = db > threshold
    active = binary_closing(active, structure=np.ones(21, bool))  # bridge gaps < 200 ms
    active = binary_opening(active, structure=np.ones(7, bool))  # drop blips < 70 ms
    active = maximum_filter1d(active.astype(np.uint8), size=9) > 0  # 40 ms hangover
    return active.astype(np.float32)


def _pool(values: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Mean of analysis frames ``[starts[i], stops[i])`` for each video frame."""
    csum = np.concatenate([np.zeros((1,) + values.shape[1:], np.float64), np.cumsum(values, axis=0, dtype=np.float64)])
    return ((csum[stops] - csum[starts]) / (stops - starts).reshape((-1,) + (1,) * (values.ndim - 1))).astype(
        np.float32
    )


def compute_features(
    audio: np.ndarray, duration: float, fps: float, progress: Progress = no_progress, pitch: bool = True
) -> AudioFeatures:
    """Per-frame features of 16 kHz mono ``audio`` at ``fps`` (see AudioFeatures).

    ``pitch=False`` skips the pitch tracker (f0 and voicing come back as zeros).
    """
    fps = check_fps(fps)
    n_video = frame_count(duration, fps)
    if n_video == 0:
        raise BadInput("audio is shorter than one video frame")
    n_an = max(1, math.ceil(len(audio) / HOP))
    basis = _mel_basis()
    parts: dict[str, list[np.ndarray]] = {"logmel": [], "rms": [], "f0": [], "ap": []}
    progress(0, n_an, "analysing audio")  # a cancellation point before the first chunk
    for k0 in range(0, n_an, CHUNK_FRAMES):
        k1 = min(n_an, k0 + CHUNK_FRAMES)
        for key, val in _analysis_chunk(audio, k0, k1, basis, pitch).items():
            parts[key].append(val)
        progress(k1, n_an, "analysing audio")
    logmel = np.concatenate(parts["logmel"])
    rms = np.concatenate(parts["rms"])
    f0 = np.concatenate(parts["f0"])
    ap = np.concatenate(parts["ap"])
    speech = _speech_activity(rms, ap)
    voiced = ((ap < 0.3) & (speech > 0)).astype(np.float32)
    f0 = np.where(voiced > 0, f0, 0.0).astype(np.float32)
    flux = np.zeros(n_an, np.float32)
    if n_an > 1:
        flux[1:] = np.maximum(logmel[1:] - logmel[:-1], 0.0).mean(axis=1)
    flux *= speech  # onsets of noise in pauses are not speech beats

    # video frame i covers [i/fps, (i+1)/fps): pool analysis frames whose centres fall inside
    idx = np.arange(n_video)
    starts = np.ceil(idx * ANALYSIS_RATE / fps - 0.5).astype(np.int64)
    stops = np.ceil((idx + 1) * ANALYSIS_RATE / fps - 0.5).astype(np.int64)
    nearest = np.floor((idx + 0.5) * ANALYSIS_RATE / fps).astype(np.int64)
    empty = stops <= starts
    starts = np.where(empty, nearest, starts)
    stops = np.where(empty, nearest + 1, stops)
    starts = np.clip(starts, 0, n_an - 1)
    stops = np.clip(stops, starts + 1, n_an)
    f0_sum = _pool(f0, starts, stops)
    voiced_v = _pool(voiced, starts, stops)
    f0_v = np.where(voiced_v > 0, f0_sum / np.maximum(voiced_v, 1e-6), 0.0).astype(np.float32)
    f0_v = np.where(voiced_v >= 0.5, f0_v, 0.0).astype(np.float32)
    onset_v = np.array([flux[a:b].max() for a, b in zip(starts, stops)], np.float32)
    return AudioFeatures(
        fps=fps,
        duration=float(duration),
        logmel=_pool(logmel, starts, stops),
        rms=_pool(rms, starts, stops),
        f0=f0_v,
        voiced=voiced_v,
        onset=onset_v.astype(np.float32),
        speech=_pool(speech, starts, stops),
    )


def load_features(
    path: str, fps: float, progress: Progress = no_progress, offset: float = 0.0, duration: float | None = None
) -> AudioFeatures:
    """Decode ``path`` (or its ``[offset, offset + duration)`` part) and compute features at ``fps``."""
    fps = check_fps(fps)
    audio, duration = load_audio(path, scaled(progress, 0.0, DECODE_SHARE), offset, duration)
    return compute_features(audio, duration, fps, scaled(progress, DECODE_SHARE, 1.0))
