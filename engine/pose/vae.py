"""Pose VAE: pose frames (n, 6) ↔ a latent sequence at 1/4 of the frame rate.

Fully convolutional over time, so any length encodes and decodes in one pass and
there is no seam of its own. Poses are normalized per channel (degrees and face
heights to unit-ish scale) before encoding; the training loss is Huber reconstruction
plus velocity and acceleration terms and a small KL.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import PLDConfig

DOWN = 4  # pose frames per latent token (two stride-2 convolutions)
POSE_MEAN = (0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
PITCH_YAW_STD = 8.0  # degrees per normalized unit of pitch and yaw (roll's: config.roll_std)
OFFSET_STD = (0.03, 0.03, 0.06)  # x and y offsets (face heights) and scale


class ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(ch, ch, 3, padding=1, padding_mode="replicate")
        self.c2 = nn.Conv1d(ch, ch, 3, padding=1, padding_mode="replicate")
        self.norm = nn.GroupNorm(8, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.c2(F.gelu(self.c1(F.gelu(self.norm(x)))))


class PoseVAE(nn.Module):
    """Encoder (6 → 2·latent channels, ÷4 in time) and decoder (latent → 6, ×4 in time)."""

    def __init__(self, config: PLDConfig) -> None:
        super().__init__()
        hidden, latent = config.vae_hidden, config.latent
        self.latent = latent
        self.register_buffer("pose_mean", torch.tensor(POSE_MEAN))
        self.register_buffer("pose_std", torch.tensor((PITCH_YAW_STD, PITCH_YAW_STD, config.roll_std, *OFFSET_STD)))
        # latent normalization for the diffusion model (set after VAE training)
        self.register_buffer("z_shift", torch.zeros(latent))
        self.register_buffer("z_scale", torch.ones(latent))
        self.encoder = nn.Sequential(
            nn.Conv1d(6, hidden, 5, padding=2, padding_mode="replicate"),
            ResBlock(hidden),
            nn.Conv1d(hidden, hidden, 4, stride=2, padding=1),
            ResBlock(hidden),
            nn.Conv1d(hidden, hidden, 4, stride=2, padding=1),
            ResBlock(hidden),
            nn.GELU(),
            nn.Conv1d(hidden, 2 * latent, 3, padding=1, padding_mode="replicate"),
        )
        self.decoder = nn.Sequential(
            nn.Conv1d(latent, hidden, 3, padding=1, padding_mode="replicate"),
            ResBlock(hidden),
            nn.Upsample(scale_factor=2, mode="linear", align_corners=False),
            nn.Conv1d(hidden, hidden, 3, padding=1, padding_mode="replicate"),
            ResBlock(hidden),
            nn.Upsample(scale_factor=2, mode="linear", align_corners=False),
            nn.Conv1d(hidden, hidden, 3, padding=1, padding_mode="replicate"),
            ResBlock(hidden),
            nn.GELU(),
            nn.Conv1d(hidden, 6, 5, padding=2, padding_mode="replicate"),
        )

    def normalize(self, pose: torch.Tensor) -> torch.Tensor:
        return (pose - self.pose_mean) / self.pose_std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.pose_std + self.pose_mean

    def encode(self, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, n, 6) poses, n a multiple of 4 → mean and log-variance (B, n/4, latent)."""
        h = self.encoder(self.normalize(pose).transpose(1, 2)).transpose(1, 2)
        mu, logvar = h.chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 6.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, T, latent) → (B, 4T, 6) poses."""
        return self.denormalize(self.decoder(z.transpose(1, 2)).transpose(1, 2))

    def to_diffusion(self, mu: torch.Tensor) -> torch.Tensor:
        return (mu - self.z_shift) / self.z_scale

    def from_diffusion(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.z_scale + self.z_shift

    def loss(self, pose: torch.Tensor, kl_weight: float = 1e-4) -> tuple[torch.Tensor, dict[str, float]]:
        """Huber reconstruction + velocity + acceleration (normalized units) + KL."""
        mu, logvar = self.encode(pose)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        rec = self.normalize(self.decode(z))
        ref = self.normalize(pose)
        l_rec = F.smooth_l1_loss(rec, ref, beta=0.05)
        l_vel = F.l1_loss(rec.diff(dim=1), ref.diff(dim=1)) * 4.0
        l_acc = F.l1_loss(rec.diff(n=2, dim=1), ref.diff(n=2, dim=1)) * 4.0
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        total = l_rec + l_vel + l_acc + kl_weight * kl
        return total, {"rec": l_rec.item(), "vel": l_vel.item(), "acc": l_acc.item(), "kl": kl.item()}
