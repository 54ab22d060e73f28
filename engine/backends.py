"""Pose backends: what turns audio features + prompt into head pose frames.

Every backend has the same interface, so the CLI, the worker and the add-on can
switch between them: ``generate(features, prompt, seed, pins, progress) -> (n, 6)``.
``pins`` is an (n, 6) array with NaN where nothing is pinned (or None).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from .audio import AudioFeatures
from .errors import BadInput

Progress = Callable[[int, int, str], None]


class PoseBackend(Protocol):
    name: str

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


_FACTORIES: dict[str, Callable[[], PoseBackend]] = {"procedural": ProceduralBackend}
_INSTANCES: dict[str, PoseBackend] = {}
DEFAULT_BACKEND = "procedural"


def register_backend(name: str, factory: Callable[[], PoseBackend]) -> None:
    """Make a backend selectable by ``name`` (the factory runs on first use)."""
    _FACTORIES[name] = factory


def available() -> list[str]:
    _load_optional()
    return sorted(_FACTORIES)


def default_backend() -> str:
    _load_optional()
    return DEFAULT_BACKEND


def get_backend(name: str | None = None) -> PoseBackend:
    """The backend ``name`` ("auto"/None = the default), created once and reused."""
    _load_optional()
    key = DEFAULT_BACKEND if name in (None, "", "auto") else str(name)
    if key not in _FACTORIES:
        raise BadInput(f"unknown pose backend {name!r}; choose one of: {', '.join(sorted(_FACTORIES))}")
    if key not in _INSTANCES:
        _INSTANCES[key] = _FACTORIES[key]()
    return _INSTANCES[key]


def _load_optional() -> None:
    """Import backends that live in their own packages (they call register_backend)."""
    try:
        import engine.pose  # noqa: F401  (the Pose Latent Diffusion backend)
    except ModuleNotFoundError as exc:
        if exc.name not in ("engine.pose",):
            raise
