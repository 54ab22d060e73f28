"""Deterministic few-step DDIM sampling (eta = 0), in k-diffusion's shape.

``sample_ddim(model, x, times, cond, callback)`` walks noisy latents ``x`` down the times
``times`` (1 → 0); ``model(x, t, cond)`` returns the clean estimate x0. The network itself
predicts v; :class:`GuidedDenoiser` turns it into such a model with classifier-free
guidance (on the prompt and on the speech) and inpainting (known tokens are written into every x0 estimate), and
:class:`PinnedDenoiser` bends each x0 estimate further (the pipeline uses it to pull the
decoded motion onto the animator's pins).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from .denoiser import Conditions, Denoiser
from .schedule import alpha_sigma, predict_x0_eps

DenoiseFn = Callable[[torch.Tensor, float, Conditions], torch.Tensor]


def ddim_times(steps: int) -> torch.Tensor:
    """``steps + 1`` evenly spaced times from 1 (noise) to 0 (clean)."""
    return torch.linspace(1.0, 0.0, steps + 1)


def ddim_step(model: DenoiseFn, x: torch.Tensor, t: float, t_next: float, cond: Conditions) -> torch.Tensor:
    """One deterministic DDIM step of ``x`` from time ``t`` to ``t_next`` (differentiable: the trainer draws takes
    with it as the engine does)."""
    x0 = model(x, t, cond)
    a, s = alpha_sigma(torch.tensor(t))
    eps = (x - a * x0) / s.clamp(min=1e-4)
    a_next, s_next = alpha_sigma(torch.tensor(t_next))
    return a_next * x0 + s_next * eps


@torch.inference_mode()
def sample_ddim(
    model: DenoiseFn,
    x: torch.Tensor,
    times: torch.Tensor,
    cond: Conditions,
    callback: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Denoise ``x`` (B, T, C) along ``times``; ``callback(step, steps)`` after each step (may raise to stop)."""
    steps = len(times) - 1
    for i in range(steps):
        x = ddim_step(model, x, float(times[i]), float(times[i + 1]), cond)
        if callback is not None:
            callback(i + 1, steps)
    return x


class GuidedDenoiser:
    """The v-predicting network as an x0 model with classifier-free guidance, the known tokens kept.

    ``guidance`` scales the prompt's effect (the branch without text runs in the same batch) and
    ``audio_guidance`` the speech's (one more branch without text and audio):
    ``v = v_none + audio_guidance (v_audio - v_none) + guidance (v_audio_text - v_audio)``;
    1 means no guidance (and no extra branch). Guidance acts only at times ``t`` with ``lo < t <= hi`` of
    ``interval``; at the others the conditional branch alone runs. ``posture`` is the share of the prompt's
    guidance that acts on what the prompt changes alike in every token of a window (its mean over the window's
    tokens: the window's posture): 1 all of it, 0 none (the posture as the conditional branch alone sets it, so
    takes differ in posture as much as without guidance while the motion about it is guided in full).
    """

    def __init__(
        self,
        net: Denoiser,
        guidance: float,
        audio_guidance: float = 1.0,
        interval: tuple[float, float] = (0.0, 1.0),
        posture: float = 1.0,
        posture_tokens: int | None = None,
    ) -> None:
        self.net = net
        self.guidance = float(guidance)
        self.audio_guidance = float(audio_guidance)
        self.interval = (float(interval[0]), float(interval[1]))
        self.posture = float(posture)
        self.posture_tokens = None if not posture_tokens else int(posture_tokens) | 1  # odd: centred on its token

    def __call__(self, x: torch.Tensor, t: float, cond: Conditions) -> torch.Tensor:
        b = x.shape[0]
        guided = self.interval[0] < t <= self.interval[1]
        if not guided or (self.guidance == 1.0 and self.audio_guidance == 1.0):
            v = self.net(x, torch.full((b,), t), cond)
        else:
            audio_free = self.audio_guidance != 1.0
            n = 3 if audio_free else 2
            out = self.net(torch.cat([x] * n), torch.full((n * b,), t), cond.branches(audio_free)).chunk(n)
            v_text, v_audio = out[0], out[1]
            prompt = v_text - v_audio
            v = v_audio + self.guidance * prompt
            if self.posture != 1.0:  # the window's posture guided by 1 + posture (guidance - 1) instead
                v = v - (1.0 - self.posture) * (self.guidance - 1.0) * slow_part(prompt, self.posture_tokens)
            if audio_free:
                v = v + (self.audio_guidance - 1.0) * (v_audio - out[2])
        x0, _ = predict_x0_eps(x, v, t)
        return cond.known * cond.mask + x0 * (1 - cond.mask)


def slow_part(x: torch.Tensor, width: int | None) -> torch.Tensor:
    """(B, T, C) → its moving average over ``width`` tokens (odd; the ends repeated), or its mean over the T
    tokens when ``width`` is None or not shorter than T."""
    if width is None or width >= x.shape[1]:
        return x.mean(dim=1, keepdim=True)
    padded = F.pad(x.transpose(1, 2), (width // 2, width // 2), mode="replicate")
    return F.avg_pool1d(padded, width, stride=1).transpose(1, 2)


class PinnedDenoiser:
    """An x0 model whose estimates pass through ``hook`` (known tokens stay as they are)."""

    def __init__(self, inner: DenoiseFn, hook: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.inner = inner
        self.hook = hook

    def __call__(self, x: torch.Tensor, t: float, cond: Conditions) -> torch.Tensor:
        x0 = self.inner(x, t, cond)
        return cond.known * cond.mask + self.hook(x0) * (1 - cond.mask)
