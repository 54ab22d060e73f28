"""The pose model's sizes in one object (as nanoGPT's GPTConfig), stored in the weights' metadata."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import BadInput
from ..procedural import ACTION_RAMP_S

MODEL_FPS = 25.0  # the pose model's frame rate (other rates are resampled to and from it)


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
    # features per "then" segment besides its embedding: 1 its direction (the shipped model); up to
    # conditioning.SEGMENT_FEATURES (6: direction and 5 moods, trial O, not yet trained)
    segment_features: int = 1
    # crossover between two "then" segments in pose frames: the teacher's own ramp (procedural.ACTION_RAMP_S,
    # 0.35 s = 8.75 frames), so the model learns the hand-over it sees in the corpus
    segment_ramp_frames: float = ACTION_RAMP_S * MODEL_FPS
    max_tokens: int = 64  # longest window the denoiser sees
    # degrees of roll that count as one unit in the VAE's normalized pose (pitch and yaw: vae.PITCH_YAW_STD, 8°); the
    # corpus rolls about half as much as it nods or turns, so a smaller value weighs roll more in what is learned.
    # Weights keep the normalization they were trained with (the VAE's pose_std buffer).
    roll_std: float = 6.0

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> PLDConfig:
        """A config from overrides of the defaults; unknown names are a BadInput."""
        values = dict(values or {})
        kinds = {f.name: float if f.type == "float" else int for f in fields(cls)}
        unknown = sorted(set(values) - set(kinds))
        if unknown:
            raise BadInput(f"unknown pose model config entries: {', '.join(unknown)}")
        return cls(**{k: kinds[k](v) for k, v in values.items()})

    @classmethod
    def from_weights(cls, values: dict[str, Any] | None) -> PLDConfig:
        """The config a weights file was trained with: its metadata, and for the entries it predates
        the values the model had before them (:data:`BEFORE_ENTRY`)."""
        return cls.from_dict({**BEFORE_ENTRY, **(values or {})})

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)


# Config entries added after weights were shipped, with the value those weights were trained with: no segment
# features (no direction) and a 1.75-frame (70 ms) crossover between "then" segments.
BEFORE_ENTRY: dict[str, int | float] = {"segment_features": 0, "segment_ramp_frames": 1.75}
