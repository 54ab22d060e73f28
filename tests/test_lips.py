"""Lip sync on real espeak-ng speech: channels, closures, pauses, the op and bad input."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from engine.errors import BadInput, Cancelled
from engine.formats import read_lips
from engine.jobs import Job, run_op
from engine.lips import CHANNELS, generate_lips
from engine.mouth_calibration import APERTURE_MM_PER_UNIT

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from reference_speech import espeak_clip, is_bilabial, openness  # noqa: E402


def _speak(text: str, voice: str = "en", rate: int = 160):
    return espeak_clip(text, voice, rate)


@pytest.fixture(scope="module")
def bilabial_clip():
    return _speak("Papa, Bob and mama bought a map. Maybe the baby might be happy.")


def test_channels_shapes_and_ranges(speech_wav):
    audio, sr = sf.read(str(speech_wav), dtype="float32")
    audio16 = soxr.resample(audio, sr, 16000)
    duration = len(audio) / sr
    for fps in (25.0, 30000 / 1001):
        frames, channels, visemes = generate_lips(audio16, duration, fps)
        assert channels == CHANNELS and channels[0] == "mouth_open"
        assert frames.shape == (math.ceil(duration * fps - 1e-9), 4)
        assert frames.min() >= 0.0 and frames.max() <= 1.0
        assert {v["shape"] for v in visemes} <= set("ABCDEFGHX")
        assert all(v["end"] > v["start"] for v in visemes)
        assert len({v["shape"] for v in visemes}) >= 5


def test_mouth_follows_reference_openness(bilabial_clip):
    audio, duration, phones = bilabial_clip
    frames, _, _ = generate_lips(audio, duration, 100.0)
    ref = np.zeros(len(frames))
    for p in phones:
        ref[int(p.start * 100) : int(p.end * 100)] = openness(p.name)
    assert np.corrcoef(frames[:, 0], ref)[0, 1] > 0.5


def test_bilabials_close_the_lips(bilabial_clip):
    audio, duration, phones = bilabial_clip
    frames, _, _ = generate_lips(audio, duration, 100.0)
    bil = [p for p in phones if is_bilabial(p.name)]
    closed = [frames[int(p.start * 100) : int(p.end * 100) + 1, 3].max() > 0.5 for p in bil]
    assert len(bil) >= 10 and np.mean(closed) >= 0.6
    # and the mouth is open on the open vowels
    vowels = [p for p in phones if openness(p.name) >= 0.65]
    opened = [frames[int(p.start * 100) : int(p.end * 100) + 1, 0].max() > 0.3 for p in vowels]
    assert np.mean(opened) >= 0.8


def test_pauses_and_silence_close_the_mouth():
    audio, duration, _ = _speak("Hello there.")
    pad = np.zeros(16000, np.float32)
    padded = np.concatenate([pad, audio, pad])
    frames, _, visemes = generate_lips(padded, duration + 2.0, 25.0)
    assert frames[:20, 0].max() < 0.05 and frames[-20:, 0].max() < 0.05
    assert frames[25:-25, 0].max() * APERTURE_MM_PER_UNIT > 9.0  # an open vowel of ordinary speech: ~11 mm
    assert visemes[0]["shape"] == "X" and visemes[-1]["shape"] == "X"
    with pytest.raises(BadInput, match="no speech in the audio"):  # no speech at all: the rule of every op
        generate_lips(np.zeros(32000, np.float32), 2.0, 25.0)


def test_a_steady_tone_without_speech_is_refused():
    """Music or a hum holds no speech: like silence, it is refused (one rule for every op), not lip-synced."""
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 3) / 16000
    music = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t))
    music = (music + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    with pytest.raises(BadInput, match="no speech in the audio"):
        generate_lips(music, 3.0, 25.0)


def test_deterministic(bilabial_clip):
    audio, duration, _ = bilabial_clip
    a = generate_lips(audio, duration, 25.0)[0]
    b = generate_lips(audio, duration, 25.0)[0]
    np.testing.assert_array_equal(a, b)


def test_op_writes_lips_json(speech_wav, tmp_path):
    out = tmp_path / "lips.json"
    result = run_op("lips", {"audio": str(speech_wav), "fps": 24, "out": str(out), "strength": 0.5}, Job())
    frames, channels, fps, doc = read_lips(str(out))
    assert doc == json.loads(out.read_text()) == result["lips"]
    assert doc["format"] == "posetalk.lips/1" and fps == 24 and channels == CHANNELS
    assert frames.shape[0] == result["n_frames"] and frames[:, 0].max() <= 0.5 + 1e-6
    assert doc["visemes"] and doc["meta"]["strength"] == 0.5
    shifted = run_op("lips", {"audio": str(speech_wav), "fps": 24, "time_offset_ms": 125}, Job())["lips"]
    full = run_op("lips", {"audio": str(speech_wav), "fps": 24}, Job())["lips"]
    np.testing.assert_allclose(np.array(shifted["frames"])[3:], np.array(full["frames"])[:-3], atol=2e-4)


def test_cli_and_bad_input(run_engine, speech_wav, tmp_path):
    out = tmp_path / "l.json"
    proc = run_engine("lips", "--audio", str(speech_wav), "--fps", "29.97", "--out", str(out))
    assert proc.returncode == 0, proc.stderr and out.exists()
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    for args, expect in [
        (["--audio", str(tmp_path / "nope.wav")], "not found"),
        (["--audio", str(empty)], "empty"),
        (["--audio", str(speech_wav), "--fps", "0"], "fps"),
    ]:
        bad_out = tmp_path / "bad.json"
        proc = run_engine("lips", *args, "--out", str(bad_out))
        assert proc.returncode == 2 and expect in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert not bad_out.exists()
    with pytest.raises(BadInput, match="no audio"):
        run_op("lips", {}, Job())


def test_cancel(speech_wav):
    job = Job()
    job.cancel()
    with pytest.raises(Cancelled):
        run_op("lips", {"audio": str(speech_wav)}, job)
