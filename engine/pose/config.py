"""The pose model's sizes in one object (as nanoGPT's GPTConfig), stored in the weights' metadata."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import BadInput


@dataclass(frozen=True)
class PLDConfig:
    """Sizes of the pose VAE and the latent denoiser.

    The defaults are the shipped model's; weights carry their own config (``metadata["config"]``).
    """

    latent: int = 8  # latent channels per token (one token per vae.DOWN pose frames)
    vae_hidden: int = 48  # VAE convolution channels
    d: int = 128  # denoiser width
    layers: int = 3  # denoiser transformer blocks
    heads: int = 4  # attention heads per block
    audio_features: int = 46  # audio conditioning per pose frame (engine.audio.AudioFeatures.matrix)
    text_dim: int = 384  # prompt embedding (engine.text)
    segment_features: int = 1  # features per "then" segment besides its embedding (conditioning.SEGMENT_FEATURES)
    max_tokens: int = 64  # longest window the denoiser sees

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> PLDConfig:
        """A config from weights metadata or overrides; unknown names are a BadInput."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise BadInput(f"unknown pose model config entries: {', '.join(unknown)}")
        return cls(**{k: int(v) for k, v in values.items()})

    def to_dict(self) -> dict[str, int]:
        return asdict(self)
