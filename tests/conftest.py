"""Shared fixtures: real speech made with espeak-ng, processed with sox."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (make setup installs it)")
    return path


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="session")
def espeak(audio_dir: Path) -> Callable[..., Path]:
    """Factory: ``espeak(text, voice="en", rate=160, pitch=50, rate_hz=None) -> wav path`` (cached)."""
    _need("espeak-ng")

    def make(text: str, voice: str = "en", rate: int = 160, pitch: int = 50, sample_rate: int | None = None) -> Path:
        key = hashlib.sha1(f"{text}|{voice}|{rate}|{pitch}|{sample_rate}".encode()).hexdigest()[:12]
        out = audio_dir / f"speech-{key}.wav"
        if not out.exists():
            raw = audio_dir / f"raw-{key}.wav"
            cmd = ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(raw), text]
            subprocess.run(cmd, check=True, capture_output=True)
            if sample_rate:
                subprocess.run(["sox", str(raw), "-r", str(sample_rate), str(out)], check=True, capture_output=True)
                raw.unlink()
            else:
                raw.rename(out)
        return out

    return make


SENTENCE = (
    "The quick brown fox jumps over the lazy dog. Then it stops, looks around, and runs far away into the forest."
)


@pytest.fixture(scope="session")
def speech_wav(espeak: Callable[..., Path]) -> Path:
    """About seven seconds of real espeak-ng speech at 22.05 kHz (espeak's own rate)."""
    return espeak(SENTENCE)


@pytest.fixture(scope="session")
def sox_convert(audio_dir: Path) -> Callable[..., Path]:
    """Factory: ``sox_convert(src, name, out_opts=(...), effects=(...))`` → converted file (cached)."""
    _need("sox")

    def convert(src: Path, name: str, out_opts: tuple[str, ...] = (), effects: tuple[str, ...] = ()) -> Path:
        out = audio_dir / name
        if not out.exists():
            subprocess.run(["sox", str(src), *out_opts, str(out), *effects], check=True, capture_output=True)
        return out

    return convert


@pytest.fixture
def engine_cmd() -> list[str]:
    """The engine CLI as a user runs it."""
    return [sys.executable, "-m", "engine"]


@pytest.fixture
def run_engine(engine_cmd: list[str]) -> Callable[..., subprocess.CompletedProcess]:
    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        return subprocess.run(
            [*engine_cmd, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )

    return run
