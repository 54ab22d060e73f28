"""Pose Latent Diffusion (PLD): text + audio → head motion, the pose backend "pld".

Pieces: ``config`` (the model's sizes), ``vae`` (pose ↔ latent), ``denoiser`` (latent
transformer and its conditions), ``schedule`` (noise schedule), ``sampler`` (DDIM,
guidance, inpainting), ``conditioning`` (prompt segments, audio pooling), ``windows`` (which
tokens each sampler window draws, under which text), ``pipeline`` (generation, pins),
``weights`` (safetensors only). Weights load on the first ``generate``.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from ..audio import AudioFeatures
from ..params import default
from ..progress import Progress
from .weights import DEFAULT_PATH


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

    def load(self) -> None:
        """torch, the weights and the prompt's text encoder."""
        from ..text import text_encoder

        self.model()
        text_encoder()

    def generate(
        self,
        features: AudioFeatures,
        prompt: str,
        seed: int,
        pins: np.ndarray | None,
        progress: Progress,
        **options: float,
    ) -> np.ndarray:
        model = self.model()
        guidance = float(options.get("guidance", default("pose", "guidance")))
        steps = int(options.get("steps", default("pose", "steps")))
        audio_guidance = float(options.get("audio_guidance", default("pose", "audio_guidance")))
        pause_calm = float(options.get("pause_calm", default("pose", "pause_calm")))
        return model.generate(
            features.matrix(),
            prompt,
            seed,
            pins,
            features.fps,
            guidance,
            steps,
            progress,
            audio_guidance,
            pause_calm,
            # guidance_from: where guidance starts (1: at the first step), for the sampler's tuning only
            (
                float(options.get("guidance_until", default("pose", "guidance_until"))),
                float(options.get("guidance_from", 1.0)),
            ),
            float(options.get("posture_guidance", default("pose", "posture_guidance"))),
            float(options.get("posture_seconds", default("pose", "posture_seconds"))),
        )
