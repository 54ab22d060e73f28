"""PLD pipeline: audio features + prompt (+ pins) → pose frames of any length.

The latent sequence is generated window by window (``WINDOW`` tokens = 5.12 s at
25 fps); each window after the first is conditioned on its overlap with the previous
one as known tokens (inpainting), so it continues without a seam, and the whole latent
sequence is decoded in one pass. Pins bend every x0 estimate towards the pinned
values (decode → bend → re-encode delta) and are met exactly at the end.
Other frame rates are resampled to and from the model's 25 fps.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import torch

from ..motion import apply_pins
from .conditioning import DOWN, MAX_SEGMENTS, pool_audio, segment_texts, token_conditions
from .denoiser import Denoiser
from .sampler import Conditions, ddim_sample
from .vae import PoseVAE
from .weights import DEFAULT_PATH, load_weights, save_weights

MODEL_FPS = 25.0
WINDOW = 32  # latent tokens per window
OVERLAP = 8  # tokens shared with the previous window
EDGE_CLIP_S = 4.0
DEFAULT_CONFIG = {"latent": 8, "vae_hidden": 48, "d": 128, "layers": 3, "heads": 4, "audio_features": 46}

Progress = Callable[[int, int, str], None]


def edge_seconds(n_frames: int, fps: float = MODEL_FPS) -> np.ndarray:
    """(T, 2) seconds from the clip start and to its end for each latent token centre (clipped)."""
    n_tokens = -(-n_frames // DOWN)
    centres = (np.arange(n_tokens) * DOWN + DOWN / 2.0) / fps
    total = n_frames / fps
    return np.clip(np.stack([centres, total - centres], axis=1), 0.0, EDGE_CLIP_S).astype(np.float32)


def resample(x: np.ndarray, n_out: int) -> np.ndarray:
    """Linear resampling of (n, C) frames to ``n_out`` frames over the same time span."""
    n = len(x)
    if n == n_out:
        return np.asarray(x, dtype=np.float32)
    src = (np.arange(n_out) + 0.5) * n / n_out - 0.5
    idx = np.arange(n)
    return np.stack([np.interp(src, idx, x[:, c]) for c in range(x.shape[1])], axis=1).astype(np.float32)


class PLDModel:
    """The trained VAE + denoiser with the sampling pipeline."""

    def __init__(self, config: dict | None = None) -> None:
        cfg = dict(DEFAULT_CONFIG, **(config or {}))
        self.config = cfg
        self.vae = PoseVAE(hidden=cfg["vae_hidden"], latent=cfg["latent"])
        self.denoiser = Denoiser(
            latent=cfg["latent"],
            audio_dim=DOWN * cfg["audio_features"],
            d=cfg["d"],
            layers=cfg["layers"],
            heads=cfg["heads"],
        )
        self.metadata: dict[str, object] = {}
        self.eval()

    def eval(self) -> PLDModel:
        self.vae.eval()
        self.denoiser.eval()
        return self

    # ------------------------------------------------------------------ weights
    def state(self) -> dict[str, torch.Tensor]:
        out = {f"vae.{k}": v for k, v in self.vae.state_dict().items()}
        out.update({f"denoiser.{k}": v for k, v in self.denoiser.state_dict().items()})
        return out

    def save(self, path: str, metadata: dict[str, object]) -> None:
        save_weights(
            path,
            {k: v.half() if v.is_floating_point() else v for k, v in self.state().items()},
            dict(metadata, config=self.config),
        )

    @classmethod
    def load(cls, path: str = DEFAULT_PATH) -> PLDModel:
        from ..errors import BadInput

        tensors, meta = load_weights(path)
        cfg = meta.get("config")
        if isinstance(cfg, str):
            cfg = json.loads(cfg)
        model = cls(cfg if isinstance(cfg, dict) else None)
        try:
            vae = {k[4:]: v.float() for k, v in tensors.items() if k.startswith("vae.")}
            den = {k[9:]: v.float() for k, v in tensors.items() if k.startswith("denoiser.")}
            model.vae.load_state_dict(vae)
            model.denoiser.load_state_dict(den)
        except RuntimeError as exc:
            raise BadInput(f"weights file does not match the PLD model: {path} ({str(exc)[:200]})") from None
        model.metadata = meta
        return model.eval()

    # ------------------------------------------------------------------ conditions
    def text_conditions(self, prompt: str, n_frames: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Whole-prompt embedding (384,), segment embeddings (S, 384) and token weights (T, S)."""
        from ..text import embed

        pieces = segment_texts(prompt)
        whole = embed(prompt)
        segs = np.zeros((MAX_SEGMENTS, whole.shape[0]), np.float32)
        for i, piece in enumerate(pieces):
            segs[i] = embed(piece)
        weights, _ = token_conditions(n_frames, len(pieces))
        return torch.from_numpy(whole), torch.from_numpy(segs), torch.from_numpy(weights)

    # ------------------------------------------------------------------ generation
    @torch.inference_mode()
    def generate(
        self,
        matrix: np.ndarray,
        prompt: str,
        seed: int = 0,
        pins: np.ndarray | None = None,
        fps: float = MODEL_FPS,
        guidance: float = 2.0,
        steps: int = 10,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Pose frames (n, 6) for audio conditioning ``matrix`` (n, 46) at ``fps``."""
        n_out = len(matrix)
        n = max(1, int(round(n_out * MODEL_FPS / fps)))
        feats = resample(matrix, n) if n != n_out else np.asarray(matrix, np.float32)
        n_tokens = -(-n // DOWN)
        audio = torch.from_numpy(pool_audio(feats, n_tokens))
        text, segs, weights = self.text_conditions(prompt, n)
        edges = torch.from_numpy(edge_seconds(n))
        pins25 = None
        if pins is not None and np.isfinite(pins).any():
            pins25 = np.full((n_tokens * DOWN, 6), np.nan)
            for i in np.flatnonzero(np.isfinite(pins).any(axis=1)):
                j = min(n - 1, int(round(i * MODEL_FPS / fps)))
                pins25[j] = np.where(np.isfinite(pins[i]), pins[i], pins25[j])
        gen = torch.Generator().manual_seed(int(seed))
        latent = self.config["latent"]
        noise = torch.randn(n_tokens, latent, generator=gen)
        z = torch.zeros(n_tokens, latent)
        done = np.zeros(n_tokens, bool)
        starts = list(range(0, max(1, n_tokens - WINDOW + 1), WINDOW - OVERLAP))
        if starts[-1] + WINDOW < n_tokens:
            starts.append(n_tokens - WINDOW)
        for k, s in enumerate(starts):
            e = min(n_tokens, s + WINDOW)
            mask = torch.from_numpy(done[s:e].astype(np.float32))[None, :, None]
            cond = Conditions(audio[None, s:e], text[None], segs[None], weights[None, s:e], edges[None, s:e])
            hook = None
            if pins25 is not None and np.isfinite(pins25[s * DOWN : e * DOWN]).any():
                hook = self._pin_hook(pins25[s * DOWN : e * DOWN])
            out = ddim_sample(self.denoiser, noise[None, s:e], cond, steps, guidance, z[None, s:e], mask, hook)
            z[s:e] = out[0]
            done[s:e] = True
            if progress is not None:
                progress(k + 1, len(starts), "generating motion")
        pose = self.vae.decode(self.vae.from_diffusion(z)[None])[0].numpy()[:n]
        pose = resample(pose, n_out) if n != n_out else pose
        if pins is not None:
            pose = apply_pins(pose, pins, fps)
        return pose.astype(np.float32)

    def _pin_hook(self, pins: np.ndarray) -> Callable[[torch.Tensor], torch.Tensor]:
        """x0 → x0 moved so its decoded motion bends onto ``pins`` (frames of this window)."""

        def hook(x0: torch.Tensor) -> torch.Tensor:
            pose = self.vae.decode(self.vae.from_diffusion(x0))
            bent = apply_pins(pose[0].numpy(), pins[: pose.shape[1]], MODEL_FPS, reach=0.6)
            both = torch.stack([pose[0], torch.from_numpy(bent).float()])
            mu, _ = self.vae.encode(both)
            return x0 + (mu[1:] - mu[:1]) / self.vae.z_scale

        return hook
