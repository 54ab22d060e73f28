"""scripts/voices.py: every voice family speaks real audio offline; Piper's prosody noise follows its seed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import voices  # noqa: E402

TEXT = "Well, the old captain finally found the map. Can you believe it?"


@pytest.fixture(scope="module")
def piper() -> voices.PiperSession:
    return voices.PiperSession(seed=3)


@pytest.mark.parametrize("family", voices.FAMILIES)
def test_each_family_speaks(family: str, piper: voices.PiperSession) -> None:
    voice = voices.sample_voice(family, np.random.default_rng(1))
    audio = voices.speak(TEXT, voice, piper)
    seconds = len(audio) / voices.SAMPLE_RATE
    assert audio.dtype == np.float32 and np.isfinite(audio).all()
    assert 1.5 < seconds < 12.0, (family, seconds)
    assert np.sqrt(np.mean(audio**2)) > 0.01 and np.abs(audio).max() <= 1.0
    frames = np.abs(audio[: len(audio) // 400 * 400]).reshape(-1, 400).max(axis=1)  # 25 ms frames
    assert (frames < 0.01).mean() < 0.6  # mostly speech, not silence


def test_piper_noise_follows_the_seed() -> None:
    voice = voices.Voice("piper", "en_US-joe-medium", length=1.1, noise=0.8, noise_w=1.0)
    first = voices.speak(TEXT, voice, voices.PiperSession(seed=5))
    again = voices.speak(TEXT, voice, voices.PiperSession(seed=5))
    other = voices.speak(TEXT, voice, voices.PiperSession(seed=6))
    np.testing.assert_array_equal(first, again)
    assert len(other) != len(first) or np.abs(other - first).max() > 0.01
    slow = voices.Voice("piper", "en_US-joe-medium", length=1.4, noise=0.8, noise_w=1.0)
    assert len(voices.speak(TEXT, slow, voices.PiperSession(seed=5))) > 1.15 * len(first)  # length scale: slower


def test_the_corpus_refuses_festival(tmp_path: Path) -> None:
    out = tmp_path / "c.npz"
    cmd = [
        sys.executable,
        "scripts/build_corpus.py",
        "--clips",
        "2",
        "--families",
        "espeak,festival",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "festival is reserved for evaluation" in proc.stderr
    assert not out.exists()


def test_the_speak_command_writes_16k_mono(tmp_path: Path) -> None:
    import soundfile as sf

    out = tmp_path / "hello.wav"
    cmd = [sys.executable, "scripts/voices.py", "--family", "flite", "--text", "Hello there.", "--out", str(out)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=120)
    info = sf.info(str(out))
    assert info.samplerate == 16000 and info.channels == 1 and info.duration > 0.5
