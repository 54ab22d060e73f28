"""Pose Latent Diffusion (PLD): text + audio → head motion, registered as pose backend "pld".

Pieces: ``vae`` (pose ↔ latent), ``denoiser`` (latent transformer), ``schedule``
(noise schedule), ``sampler`` (DDIM + guidance + inpainting), ``conditioning``
(prompt segments, audio pooling), ``pipeline`` (windows, pins), ``weights``
(safetensors only). Weights load on the first ``generate``.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from .. import backends
from ..audio import AudioFeatures
from .weights import DEFAULT_PATH

MAKE_DEFAULT = True  # the default pose backend whenever its weights are installed (scripts/eval_pose.py)


class PLDBackend:
    """Pose backend "pld": loads ``engine/weights/pld.safetensors`` lazily."""

    name = "pld"

    def __init__(self, path: str = DEFAULT_PATH) -> None:
        self.path = path
        self._model = None
        self._lock = threading.Lock()

    def model(self):  # noqa: ANN201  (engine.pose.pipeline.PLDModel, imported lazily with torch)
        with self._lock:
            if self._model is None:
                import torch

                from .pipeline import PLDModel

                torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
                self._model = PLDModel.load(self.path)
            return self._model

    def generate(
        self,
        features: AudioFeatures,
        prompt: str,
        seed: int,
        pins: np.ndarray | None,
        progress: backends.Progress,
        **options: float,
    ) -> np.ndarray:
        model = self.model()
        from .pipeline import DEFAULT_GUIDANCE, DEFAULT_STEPS

        guidance = float(options.get("guidance", DEFAULT_GUIDANCE))
        steps = int(options.get("steps", DEFAULT_STEPS))
        return model.generate(features.matrix(), prompt, seed, pins, features.fps, guidance, steps, progress)


backends.register_backend("pld", PLDBackend)
if MAKE_DEFAULT and os.path.isfile(DEFAULT_PATH):
    backends.DEFAULT_BACKEND = "pld"
