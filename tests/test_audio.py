"""engine.audio: decoding any common file and per-frame features on the video grid."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine import audio as A
from engine.errors import BadInput


def _tone_file(path: Path, sr: int = 44100, channels: int = 2) -> Path:
    """1 s silence, 0.4 s of a 220 Hz tone, 1 s silence."""
    t = np.arange(int(0.4 * sr)) / sr
    tone = 0.5 * np.sin(2 * np.pi * 220 * t)
    sig = np.concatenate([np.zeros(sr), tone, np.zeros(sr)])
    sf.write(path, np.stack([sig] * channels, axis=1), sr)
    return path


def test_loads_every_common_format_to_16k_mono(speech_wav, sox_convert):
    ref, dur = A.load_audio(str(speech_wav))
    assert ref.dtype == np.float32 and ref.ndim == 1
    assert abs(len(ref) - dur * A.SAMPLE_RATE) <= 1
    info = sf.info(str(speech_wav))
    assert dur == pytest.approx(info.frames / info.samplerate, abs=1e-6)
    for name, opts in [
        ("s.flac", ("-r", "48000", "-c", "2")),
        (
            "s.ogg",
            (
                "-r",
                "44100",
            ),
        ),
        ("s.mp3", ("-r", "44100", "-c", "2")),
        (
            "s8k.wav",
            (
                "-r",
                "8000",
            ),
        ),
    ]:
        path = sox_convert(speech_wav, name, out_opts=opts)
        samples, d = A.load_audio(str(path))
        assert samples.ndim == 1
        assert abs(d - dur) < 0.08, name  # mp3 pads a few ms
        n = min(len(samples), len(ref))
        m = (n // 1600) * 1600
        env = np.abs(samples[:m]).reshape(-1, 1600).mean(1)
        env_ref = np.abs(ref[:m]).reshape(-1, 1600).mean(1)
        assert np.corrcoef(env, env_ref)[0, 1] > 0.9, name


@pytest.mark.parametrize("fps", [25.0, 24000 / 1001, 30000 / 1001, 60.0, 12.0, 120.0])
def test_frame_count_and_timing_on_any_fps(tmp_path, fps):
    path = _tone_file(tmp_path / "tone.wav")
    feats = A.load_features(str(path), fps)
    assert feats.n_frames == math.ceil(2.4 * fps - 1e-9)
    for arr in (feats.rms, feats.f0, feats.voiced, feats.onset, feats.speech):
        assert arr.shape == (feats.n_frames,)
    assert feats.logmel.shape == (feats.n_frames, A.N_MELS)
    # the tone occupies [1.0, 1.4) s: frames fully inside are loud, frames fully outside quiet
    inside = [i for i in range(feats.n_frames) if i / fps >= 1.0 + 0.02 and (i + 1) / fps <= 1.4 - 0.02]
    outside = [i for i in range(feats.n_frames) if (i + 1) / fps <= 1.0 - 0.02 or i / fps >= 1.4 + 0.02]
    assert inside and outside
    assert feats.rms[inside].min() > 0.2
    assert feats.rms[outside].max() < 0.01
    # pitch of the tone, and its onset at the frame that contains t = 1.0 s
    assert np.median(feats.f0[inside]) == pytest.approx(220, rel=0.03)
    assert feats.voiced[inside].min() == 1.0 and feats.f0[outside].max() == 0.0
    assert int(np.argmax(feats.onset)) == pytest.approx(math.floor(1.0 * fps), abs=1)


def test_speech_features_and_pauses(speech_wav, sox_convert):
    padded = sox_convert(speech_wav, "padded.wav", effects=("pad", "1.5", "1.5"))
    feats = A.load_features(str(padded), 25)
    assert feats.speech[:30].max() == 0.0  # first 1.2 s are silence
    assert feats.speech[-30:].max() == 0.0
    talk = feats.speech[45:-45]
    assert talk.mean() > 0.7
    voiced_f0 = feats.f0[feats.f0 > 0]
    assert 0.3 < (feats.f0[45:-45] > 0).mean() < 0.95
    assert 70 < np.median(voiced_f0) < 250  # espeak's default male voice
    assert not feats.is_silent
    m = feats.matrix()
    assert m.shape == (feats.n_frames, 46) and np.isfinite(m).all()


def test_features_do_not_depend_on_chunking(speech_wav, monkeypatch):
    samples, dur = A.load_audio(str(speech_wav))
    whole = A.compute_features(samples, dur, 25)
    monkeypatch.setattr(A, "CHUNK_FRAMES", 97)
    chunked = A.compute_features(samples, dur, 25)
    for name in ("logmel", "rms", "f0", "voiced", "onset", "speech"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-4, atol=1e-5)


def test_mel_filterbank_is_the_one_the_pose_model_learned():
    """The filterbank is computed with numpy (no signal library to import on a job's first run); it must be the
    Slaney-scale, unit-area filterbank of librosa bit for bit, which the shipped weights were trained on."""
    import librosa

    reference = librosa.filters.mel(sr=A.SAMPLE_RATE, n_fft=A.WIN, n_mels=A.N_MELS, fmin=60.0, fmax=7600.0)
    np.testing.assert_array_equal(A._mel_basis(), reference.astype(np.float32))


def test_progress_of_loading_features_is_full_only_when_the_analysis_is_done(speech_wav):
    """Decoding and analysing share one bar: it never runs backwards and is full only at the end (a caller that
    waits for the full bar, as the worker's test of a cancel while models load does, waits for the features)."""
    events = []
    A.load_features(str(speech_wav), 25, lambda done, total, message: events.append((done / total, message)))
    fractions = [f for f, _ in events]
    assert fractions[-1] == 1.0 and events[-1][1] == "analysing audio"
    assert all(f < 1.0 for f in fractions[:-1]), events
    assert all(b >= a for a, b in zip(fractions, fractions[1:])), events


def test_offset_and_duration_select_part_of_the_file(tmp_path):
    path = _tone_file(tmp_path / "tone.wav")
    feats = A.load_features(str(path), 25, offset=0.8, duration=1.0)
    assert feats.n_frames == 25
    assert feats.rms[:4].max() < 0.01 and feats.rms[6:14].min() > 0.2  # tone now starts at 0.2 s
    with pytest.raises(BadInput, match="past the end"):
        A.load_audio(str(path), offset=5.0)
    with pytest.raises(BadInput, match="offset"):
        A.load_audio(str(path), offset=-1.0)


@pytest.mark.parametrize("fps", [0, -25, float("nan"), float("inf"), 1000, "abc"])
def test_invalid_fps(fps):
    with pytest.raises(BadInput, match="fps"):
        A.check_fps(fps)


def test_bad_files(tmp_path):
    with pytest.raises(BadInput, match="not found"):
        A.load_audio(str(tmp_path / "missing.wav"))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(BadInput, match="empty"):
        A.load_audio(str(empty))
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all\n" * 50)
    with pytest.raises(BadInput, match="not an audio file"):
        A.load_audio(str(text))
    with pytest.raises(BadInput, match="folder"):
        A.load_audio(str(tmp_path))
    header_only = tmp_path / "header.wav"
    sf.write(header_only, np.zeros(0), 16000)
    with pytest.raises(BadInput):
        A.load_audio(str(header_only))


def test_silence_is_detected(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(16000 * 2), 16000)
    feats = A.load_features(str(path), 25)
    assert feats.is_silent and feats.speech.max() == 0.0 and feats.f0.max() == 0.0


def test_thirty_minute_file_in_bounded_memory(speech_wav, sox_convert, tmp_path):
    """30 minutes of speech: features in chunks, progress reported, peak memory bounded."""
    long = sox_convert(speech_wav, "long30.wav", out_opts=("-r", "16000"), effects=("repeat", "260"))
    assert sf.info(str(long)).duration > 1800
    script = (
        "import sys, json\n"
        "from engine.audio import load_features\n"
        "calls = []\n"
        "f = load_features(sys.argv[1], 30, lambda d, t, m: calls.append(m))\n"
        "print(json.dumps({'n': f.n_frames, 'calls': len(calls),"
        " 'rss_mb': next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')) / 1024}))\n"
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", script, str(long)], cwd=root, capture_output=True, text=True, timeout=600, check=True
    )
    import json

    out = json.loads(proc.stdout)
    assert out["n"] == math.ceil(sf.info(str(long)).duration * 30 - 1e-9)
    assert out["calls"] > 20
    assert out["rss_mb"] < 1200, out
