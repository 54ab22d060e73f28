"""Deterministic few-step DDIM sampler (eta = 0) with classifier-free guidance and inpainting.

Inpainting: known latent tokens are given to the denoiser (mask channel) and written
into every x0 estimate; an optional ``x0_hook`` can bend each x0 estimate further
(the pipeline uses it to pull the decoded motion onto the animator's pins).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .denoiser import Denoiser
from .schedule import alpha_sigma, predict_x0_eps


@dataclass
class Conditions:
    audio: torch.Tensor  # (B, T, audio_dim)
    text: torch.Tensor  # (B, 384)
    segments: torch.Tensor  # (B, S, 384) embeddings of the prompt's segments
    weights: torch.Tensor  # (B, T, S) token membership in the segments
    edges: torch.Tensor  # (B, T, 2)


@torch.inference_mode()
def ddim_sample(
    model: Denoiser,
    noise: torch.Tensor,
    cond: Conditions,
    steps: int = 10,
    guidance: float = 2.0,
    known: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    x0_hook: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Denoise ``noise`` (B, T, C) from t = 1 to 0 in ``steps`` deterministic steps."""
    x = noise
    b, n, _ = x.shape
    if known is None or mask is None:
        known = torch.zeros_like(x)
        mask = torch.zeros(b, n, 1)
    guided = guidance != 1.0
    if guided:  # conditional and unconditional (zero text) branches in one batch
        audio = torch.cat([cond.audio, cond.audio])
        text = torch.cat([cond.text, torch.zeros_like(cond.text)])
        segments = torch.cat([cond.segments, torch.zeros_like(cond.segments)])
        weights = torch.cat([cond.weights, cond.weights])
        edges = torch.cat([cond.edges, cond.edges])
        known2, mask2 = torch.cat([known, known]), torch.cat([mask, mask])
    times = torch.linspace(1.0, 0.0, steps + 1)
    for i in range(steps):
        t, t_next = float(times[i]), float(times[i + 1])
        if guided:
            v = model(torch.cat([x, x]), torch.full((2 * b,), t), known2, mask2, audio, text, segments, weights, edges)
            v_c, v_u = v.chunk(2)
            v = v_u + guidance * (v_c - v_u)
        else:
            v = model(
                x, torch.full((b,), t), known, mask, cond.audio, cond.text, cond.segments, cond.weights, cond.edges
            )
        x0, eps = predict_x0_eps(x, v, t)
        x0 = known * mask + x0 * (1 - mask)
        if x0_hook is not None:
            x0 = known * mask + x0_hook(x0) * (1 - mask)
        a, s = alpha_sigma(torch.tensor(t))
        eps = (x - a * x0) / s.clamp(min=1e-4)
        a_next, s_next = alpha_sigma(torch.tensor(t_next))
        x = a_next * x0 + s_next * eps
    return x
