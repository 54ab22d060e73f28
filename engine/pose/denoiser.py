"""Latent denoiser: a small transformer over latent tokens (nanoGPT-sized, bidirectional).

Per token it sees the noisy latent, the known latent and its mask (inpainting context:
the overlap with the previous window, or nothing), the audio frames of that token, the
embedding and screen direction of its prompt segment and its distance to the start and end of the clip.
The diffusion time and the whole-prompt embedding modulate every block (adaLN-zero).
Text conditions are replaced by zeros with probability ``text_drop`` in training, and the audio
independently with probability ``audio_drop``, which gives the branches of classifier-free
guidance on the prompt and on the speech.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .config import PLDConfig
from .vae import DOWN


def sinusoidal(x: torch.Tensor, dim: int, max_period: float = 1000.0) -> torch.Tensor:
    """(...,) values → (..., dim) sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=x.device) / half)
    args = x.float().unsqueeze(-1) * freqs
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class Block(nn.Module):
    """Pre-norm transformer block with adaLN-zero modulation by a global condition."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.mod = nn.Linear(d, 6 * d)
        nn.init.zeros_(self.mod.weight)
        nn.init.zeros_(self.mod.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        s1, b1, g1, s2, b2, g2 = self.mod(c).unsqueeze(1).chunk(6, dim=-1)
        h = self.norm1(x) * (1 + s1) + b1
        q, k, v = self.qkv(h).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        x = x + g1 * self.proj(a)
        h = self.norm2(x) * (1 + s2) + b2
        return x + g2 * self.mlp(h)


class Denoiser(nn.Module):
    """v prediction of the latent diffusion (sizes from PLDConfig)."""

    def __init__(self, config: PLDConfig) -> None:
        super().__init__()
        latent, text_dim, d = config.latent, config.text_dim, config.d
        audio_dim = DOWN * config.audio_features
        self.d = d
        self.latent_in = nn.Linear(2 * latent + 1, d)
        self.audio_in = nn.Sequential(nn.Linear(audio_dim, d), nn.GELU(), nn.Linear(d, d))
        self.segment_in = nn.Linear(text_dim + config.segment_features, d)
        self.edge_in = nn.Linear(2 * 32, d)
        self.pos = nn.Parameter(torch.randn(config.max_tokens, d) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
        self.text_mlp = nn.Sequential(nn.Linear(text_dim, d), nn.GELU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList([Block(d, config.heads) for _ in range(config.layers)])
        self.norm = nn.LayerNorm(d, elementwise_affine=False)
        self.out = nn.Linear(d, latent)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Conditions) -> torch.Tensor:
        """v prediction (B, T, latent) for noisy latents ``x_t`` (B, T, latent) at times ``t`` (B,)."""
        n = x_t.shape[1]
        h = self.latent_in(torch.cat([x_t, cond.known * cond.mask, cond.mask], dim=-1))
        h = h + self.audio_in(cond.audio) + cond.weights @ self.segment_in(cond.segments) + self.pos[:n]
        h = h + self.edge_in(sinusoidal(cond.edges, 32, max_period=50.0).flatten(-2))
        c = self.time_mlp(sinusoidal(t * 1000.0, self.d)) + self.text_mlp(cond.text)
        c = F.gelu(c)
        for block in self.blocks:
            h = block(h, c)
        return self.out(self.norm(h))


@dataclass
class Conditions:
    """What the denoiser sees besides the noisy latents, per window of a batch.

    audio: (B, T, DOWN * audio_features) the audio frames of each token; text: (B, text_dim) the whole prompt;
    segments: (B, S, text_dim + segment_features) its "then" segments (embedding, direction, mood) and weights:
    (B, T, S) each token's membership in them (zeros: no text); edges: (B, T, 2) seconds from the clip start
    and to its end (clipped);
    known: (B, T, latent) latents given as context (inpainting) where mask: (B, T, 1) is 1.
    """

    audio: torch.Tensor
    text: torch.Tensor
    segments: torch.Tensor
    weights: torch.Tensor
    edges: torch.Tensor
    known: torch.Tensor
    mask: torch.Tensor

    def branches(self, audio_free: bool) -> Conditions:
        """The batch for classifier-free guidance: as it is, without the text, and (``audio_free``) without
        text and audio, stacked in that order (absent conditions are zeros, as in training)."""
        n = 3 if audio_free else 2

        def repeat(x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x] * n)

        def drop(x: torch.Tensor, kept: int) -> torch.Tensor:
            return torch.cat([x] * kept + [torch.zeros_like(x)] * (n - kept))

        return Conditions(
            audio=drop(self.audio, 2),
            text=drop(self.text, 1),
            segments=drop(self.segments, 1),
            weights=repeat(self.weights),
            edges=repeat(self.edges),
            known=repeat(self.known),
            mask=repeat(self.mask),
        )
