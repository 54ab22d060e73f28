"""Pose backends: what turns audio features + prompt into head pose frames.

Every backend has the same interface, so the CLI, the worker and the add-on can
switch between them: ``generate(features, prompt, seed, pins, progress, **options) -> (n, 6)``.
``pins`` is an (n, 6) array with NaN where nothing is pinned (or None).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np

from .audio import AudioFeatures
from .progress import Progress


class PoseBackend(Protocol):
    name: str

    def load(self) -> None:
        """Load what generating needs (libraries, weights); done once, inside the job's preparing phase."""

    def generate(
        self,
        features: AudioFeatures,
        prompt: str,
        seed: int,
        pins: np.ndarray | None,
        progress: Progress,
        **options: float,
    ) -> np.ndarray: ...


class ProceduralBackend:
    """The keyword-parsed, prosody-driven procedural model (engine.procedural)."""

    name = "procedural"

    def load(self) -> None:
        """Nothing to load: the keyword model is plain Python and numpy."""

    def generate(
        self,
        features: AudioFeatures,
        prompt: str,
        seed: int,
        pins: np.ndarray | None,
        progress: Progress,
        **options: float,
    ) -> np.ndarray:
        from .procedural import generate_motion
        from .styles import parse_prompt

        style = parse_prompt(prompt)
        progress(0, 1, "generating motion")
        frames = generate_motion(features, style, seed)
        progress(1, 1, "generating motion")
        return frames


def _pld() -> PoseBackend:
    from .pose import PLDBackend  # torch loads only when the diffusion model is used

    return PLDBackend()


BACKENDS: dict[str, Callable[[], PoseBackend]] = {"pld": _pld, "procedural": ProceduralBackend}
# What "auto" means: the model that scores at least as well on every measure of scripts/eval_pose.py on the voice
# family held out of training: the diffusion model since 2026-12-05, when its sampler left the slow turns of lively
# windows to the conditional branch (the README's pose backends; docs/pose_model.md has how each gap closed).
DEFAULT_BACKEND = "pld"
_INSTANCES: dict[str, PoseBackend] = {}
_LOCK = threading.Lock()


def available() -> list[str]:
    return sorted(BACKENDS)


def resolve(name: str | None) -> str:
    """The backend name ``name`` stands for ("auto", "" or None: the default)."""
    return DEFAULT_BACKEND if name in (None, "", "auto") else str(name)


def get_backend(name: str | None = None) -> PoseBackend:
    """The backend ``name`` ("auto"/None = the default), created once and reused."""
    key = resolve(name)
    with _LOCK:
        if key not in _INSTANCES:
            _INSTANCES[key] = BACKENDS[key]()
        return _INSTANCES[key]
