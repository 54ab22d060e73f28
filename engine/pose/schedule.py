"""Noise schedule of the latent diffusion: continuous-time cosine schedule with v-prediction helpers.

``t`` runs from 0 (clean) to 1 (pure noise); ``x_t = alpha(t) x0 + sigma(t) eps`` with
``alpha = cos(pi t / 2)``, ``sigma = sin(pi t / 2)`` (variance preserving). The denoiser
predicts ``v = alpha eps - sigma x0``.
"""

from __future__ import annotations

import math

import torch


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signal and noise scales at time ``t`` in [0, 1]."""
    angle = t.clamp(0.0, 1.0) * (math.pi / 2)
    return torch.cos(angle), torch.sin(angle)


def add_noise(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Noised sample ``x_t`` and the v target for batch times ``t`` (B,)."""
    a, s = alpha_sigma(t)
    a, s = a.view(-1, 1, 1), s.view(-1, 1, 1)
    return a * x0 + s * eps, a * eps - s * x0


def predict_x0_eps(x_t: torch.Tensor, v: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean sample and noise implied by a v prediction at scalar time ``t``."""
    a, s = alpha_sigma(torch.tensor(float(t)))
    return a * x_t - s * v, s * x_t + a * v


def sample_times(batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training times, uniform in (0, 1]."""
    return torch.rand(batch, generator=generator).clamp(min=1e-3)
