"""PLD pipeline: audio features + prompt (+ pins) → pose frames of any length.

The latent sequence is generated window by window in the passes of :mod:`.windows` (a window is 5.12 s at
25 fps; later windows see tokens drawn before as known context: inpainting, so the motion continues without a seam);
windows of one pass are sampled together and the whole latent sequence is decoded in one pass. Where the prompt's
parts have moods of their own, each part is planned under its own text (conditioning.part_prompts) and joined to the
next inside the lively one. The decoded motion's quick part then settles in the
speech's pauses by ``pause_calm`` (engine.motion.calm_pauses). Pins bend every x0 estimate
towards the pinned values (decode → bend → re-encode delta) and are met exactly at the end.
Other frame rates are resampled to and from the model's 25 fps.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from ..audio import MATRIX_SPEECH_COLUMN
from ..motion import apply_pins, calm_pauses
from ..params import default
from ..progress import Progress
from .conditioning import (
    MAX_SEGMENTS,
    part_prompts,
    pool_audio,
    segment_features,
    segment_moods,
    segment_texts,
    token_conditions,
)
from .config import MODEL_FPS, PLDConfig
from .denoiser import Conditions, Denoiser
from .sampler import GuidedDenoiser, PinnedDenoiser, ddim_times, sample_ddim
from .vae import DOWN, PoseVAE
from .weights import DEFAULT_PATH, load_weights, save_weights
from .windows import WHOLE_PROMPT, prompt_plan

BATCH = 64  # windows sampled together (bounds memory for long audio)
EDGE_CLIP_S = 4.0
DEFAULT_GUIDANCE = default("pose", "guidance")  # classifier-free guidance scale on the prompt (1: none)
DEFAULT_AUDIO_GUIDANCE = default("pose", "audio_guidance")  # and on the speech (1: none)
DEFAULT_GUIDANCE_UNTIL = default("pose", "guidance_until")  # guidance on the noisier steps only, down to this time
DEFAULT_POSTURE_GUIDANCE = default("pose", "posture_guidance")  # share of the guidance on each window's posture
DEFAULT_POSTURE_SECONDS = default("pose", "posture_seconds")  # the posture: motion averaged over this (0: the window)
DEFAULT_STEPS = default("pose", "steps")  # DDIM steps
DEFAULT_PAUSE_CALM = default("pose", "pause_calm")  # how much the quick motion settles in pauses


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

    def __init__(self, config: PLDConfig | None = None) -> None:
        self.config = config or PLDConfig()
        self.vae = PoseVAE(self.config)
        self.denoiser = Denoiser(self.config)
        self.metadata: dict[str, object] = {}
        self.eval()

    def eval(self) -> PLDModel:
        self.vae.eval()
        self.denoiser.eval()
        return self

    def to(self, device: str | torch.device) -> PLDModel:
        """Both networks moved to ``device`` (training on a GPU; the engine samples on the CPU)."""
        self.vae.to(device)
        self.denoiser.to(device)
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
            dict(metadata, config=self.config.to_dict()),
        )

    @classmethod
    def load(cls, path: str = DEFAULT_PATH) -> PLDModel:
        from ..errors import BadInput

        tensors, meta = load_weights(path)
        cfg = meta.get("config")
        if isinstance(cfg, str):
            cfg = json.loads(cfg)
        model = cls(PLDConfig.from_weights(cfg if isinstance(cfg, dict) else None))
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
        """Whole-prompt embedding (384,), segment conditions (S, 384 + segment_features) and token weights (T, S)."""
        from ..text import embed

        pieces = segment_texts(prompt)
        whole = embed(prompt)
        # weights trained with fewer features read the first ones (0: no direction, 1: the direction, no mood)
        width = self.config.text_dim + self.config.segment_features
        segs = np.zeros((MAX_SEGMENTS, width), np.float32)
        for i, (piece, mood) in enumerate(zip(pieces, segment_moods(prompt))):
            segs[i] = segment_features(embed(piece), piece, mood)[:width]
        weights, _ = token_conditions(n_frames, len(pieces), self.config.segment_ramp_frames)
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
        guidance: float = DEFAULT_GUIDANCE,
        steps: int = DEFAULT_STEPS,
        progress: Progress | None = None,
        audio_guidance: float = DEFAULT_AUDIO_GUIDANCE,
        pause_calm: float = DEFAULT_PAUSE_CALM,
        guidance_interval: tuple[float, float] = (DEFAULT_GUIDANCE_UNTIL, 1.0),
        posture_guidance: float = DEFAULT_POSTURE_GUIDANCE,
        posture_seconds: float = DEFAULT_POSTURE_SECONDS,
    ) -> np.ndarray:
        """Pose frames (n, 6) for audio conditioning ``matrix`` (n, 46) at ``fps``; both guidances act at the
        sampler's times ``t`` (1: noise, 0: clean) with ``lo < t <= hi`` of ``guidance_interval``, the prompt's
        on each window's posture (its motion averaged over ``posture_seconds``, 0: the window's mean) by the share
        ``posture_guidance`` (sampler.GuidedDenoiser)."""
        n_out = len(matrix)
        n = max(1, int(round(n_out * MODEL_FPS / fps)))
        feats = resample(matrix, n) if n != n_out else np.asarray(matrix, np.float32)
        n_tokens = -(-n // DOWN)
        audio = torch.from_numpy(pool_audio(feats, n_tokens))
        text, segs, weights = self.text_conditions(prompt, n)
        parts = part_prompts(prompt)
        if parts is not None:  # moods per part: each part planned under its own text (windows.prompt_plan)
            from ..text import embed

            part_text = torch.from_numpy(np.stack([embed(p) for p in parts]))
        edges = torch.from_numpy(edge_seconds(n))
        pins25 = None
        if pins is not None and np.isfinite(pins).any():
            pins25 = np.full((n_tokens * DOWN, 6), np.nan)
            for i in np.flatnonzero(np.isfinite(pins).any(axis=1)):
                j = min(n - 1, int(round(i * MODEL_FPS / fps)))
                pins25[j] = np.where(np.isfinite(pins[i]), pins[i], pins25[j])
        gen = torch.Generator().manual_seed(int(seed))
        latent = self.config.latent
        noise = torch.randn(n_tokens, latent, generator=gen)
        z = torch.zeros(n_tokens, latent)
        done = torch.zeros(n_tokens)
        # windows drawn under a calm text keep the guidance on their slow motion (a calm head neither drifts nor
        # turns); the others leave it below posture_seconds to the conditional branch, as they leave the posture
        posture_tokens = round(posture_seconds * MODEL_FPS / DOWN) or None
        guide = partial(GuidedDenoiser, self.denoiser, guidance, audio_guidance, guidance_interval, posture_guidance)
        lively = guide(posture_tokens=posture_tokens)
        calm = guide() if posture_tokens else lively
        groups = []  # windows of one pass never overlap: sampled together, grouped by length and guidance
        for windows in prompt_plan(prompt, weights.numpy(), n_tokens):
            for length in sorted({w.end - w.start for w in windows}, reverse=True):
                for guided in dict.fromkeys((calm, lively)):
                    same = [w for w in windows if w.end - w.start == length and (calm if w.calm else lively) is guided]
                    groups += [(guided, same[i : i + BATCH]) for i in range(0, len(same), BATCH)]
        times = ddim_times(steps)
        for count, (guided, chunk) in enumerate(groups):
            for w in chunk:  # tokens an earlier pass drew that this window draws again
                if w.redraw is not None:
                    done[w.redraw[0] : w.redraw[1]] = 0.0
            sl = [slice(w.start, w.end) for w in chunk]
            cond = Conditions(
                audio=torch.stack([audio[w] for w in sl]),
                text=torch.stack([text if w.part == WHOLE_PROMPT else part_text[w.part] for w in chunk]),
                segments=segs[None].expand(len(sl), -1, -1),
                weights=torch.stack([weights[w] for w in sl]),
                edges=torch.stack([edges[w] for w in sl]),
                known=torch.stack([z[w] for w in sl]),
                mask=torch.stack([done[w] for w in sl])[..., None],
            )
            model = guided
            if pins25 is not None:
                window_pins = [pins25[w.start * DOWN : w.end * DOWN] for w in chunk]
                if any(np.isfinite(p).any() for p in window_pins):
                    model = PinnedDenoiser(guided, self._pin_hook(window_pins))

            def step_done(step: int, steps: int, count: int = count) -> None:
                if progress is not None:  # every step is a cancellation point
                    progress(count * steps + step, len(groups) * steps, "generating motion")

            out = sample_ddim(model, torch.stack([noise[w] for w in sl]), times, cond, step_done)
            for w, o in zip(sl, out):
                z[w] = o
                done[w] = 1.0
        pose = self.vae.decode(self.vae.from_diffusion(z)[None])[0].numpy()[:n]
        pose = calm_pauses(pose, feats[:, MATRIX_SPEECH_COLUMN], MODEL_FPS, pause_calm)
        pose = resample(pose, n_out) if n != n_out else pose
        if pins is not None:
            pose = apply_pins(pose, pins, fps)
        return pose.astype(np.float32)

    def _pin_hook(self, pins: list[np.ndarray]) -> Callable[[torch.Tensor], torch.Tensor]:
        """x0 (B, T, C) → x0 moved so each window's decoded motion bends onto its pins (frames of the window)."""

        def hook(x0: torch.Tensor) -> torch.Tensor:
            pose = self.vae.decode(self.vae.from_diffusion(x0))
            bent = pose.clone()
            for i, p in enumerate(pins):
                if np.isfinite(p).any():
                    bent[i] = torch.from_numpy(apply_pins(pose[i].numpy(), p[: pose.shape[1]], MODEL_FPS, reach=0.6))
            mu, _ = self.vae.encode(torch.cat([pose, bent]))
            before, after = mu.chunk(2)
            return x0 + (after - before) / self.vae.z_scale

        return hook
