"""Train the Pose Latent Diffusion model on the motion corpus (on the CPU).

    .venv/bin/python scripts/build_corpus.py --seed 0            # data/corpus.npz
    .venv/bin/python scripts/train_pose.py --seed 0              # engine/weights/pld.safetensors

Stage 1 trains the pose VAE on random pose windows; stage 2 encodes every motion and
trains the latent denoiser on random windows with a random caption of the motion,
text and audio dropout (classifier-free guidance on each) and random inpainting masks. Clips of 5 % of the
audio (with all their captions) are held out for validation. Losses are logged as JSON lines.
Stage 3 (only with ``--take-pairs``, a ``build_corpus.py --takes 2`` corpus; not in the shipped recipe) teaches
the denoiser how far two takes of one line differ: it draws two takes of a window and matches the band power of
their difference to that of the teacher's two takes, beside the denoising loss on that two-take corpus.
With ``--spread-inside LAST`` that loss is taught inside stage 2 instead, on its last LAST steps (no stage 3).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from engine.pose.conditioning import (  # noqa: E402
    MAX_SEGMENTS,
    SEGMENT_FEATURES,
    pool_audio,
    segment_features,
    segment_moods,
    token_conditions,
)
from engine.pose.config import MODEL_FPS, PLDConfig  # noqa: E402
from engine.pose.denoiser import Conditions  # noqa: E402
from engine.pose.pipeline import (  # noqa: E402
    DEFAULT_GUIDANCE,
    DEFAULT_GUIDANCE_UNTIL,
    DEFAULT_POSTURE_GUIDANCE,
    DEFAULT_STEPS,
    PLDModel,
    edge_seconds,
)
from engine.pose.sampler import GuidedDenoiser, ddim_step, ddim_times  # noqa: E402
from engine.pose.schedule import add_noise, sample_times  # noqa: E402
from engine.pose.vae import DOWN  # noqa: E402
from engine.pose.weights import DEFAULT_PATH, git_commit  # noqa: E402
from engine.pose.windows import WINDOW  # noqa: E402

TEXT_DROP = 0.15  # probability of training without the prompt (classifier-free guidance)
VAL_FRACTION = 0.05  # share of the clips (with all their captions) held out for validation


class Corpus:
    """The corpus npz file(s) as per-motion latents/audio and per-caption text conditions.

    Several files (the synthetic corpus, poses extracted from real videos) are joined into one.
    """

    def __init__(self, paths: str | list[str], val_fraction: float, seed: int) -> None:
        paths = [paths] if isinstance(paths, str) else list(paths)
        self.clip_feats, self.poses = [], []
        pose_clip, cap_pose, cap_text, cap_segs, cap_count, metas = [], [], [], [], [], []
        for path in paths:
            d = np.load(path)
            metas.append(json.loads(str(d["meta"])))
            feats, offs = d["features"].astype(np.float32), d["clip_offsets"]
            poses, poffs = d["poses"], d["pose_offsets"]
            pose_clip.append(d["pose_clip"] + len(self.clip_feats))
            cap_pose.append(d["caption_pose"] + len(self.poses))
            self.clip_feats += [feats[offs[i] : offs[i + 1]] for i in range(len(offs) - 1)]
            self.poses += [poses[poffs[i] : poffs[i + 1]] for i in range(len(poffs) - 1)]
            emb = d["text_embeddings"].astype(np.float32)
            cap_text.append(emb[d["caption_text_index"]])
            cap_segs.append(caption_segment_conditions(d, emb))
            cap_count.append((d["caption_segments"] >= 0).sum(axis=1))
        self.meta = metas[0] if len(metas) == 1 else {"seed": metas[0].get("seed"), "parts": metas}
        self.pose_clip, self.cap_pose = np.concatenate(pose_clip), np.concatenate(cap_pose)
        self.cap_text, self.cap_segs = np.concatenate(cap_text), np.concatenate(cap_segs)
        self.cap_count = np.concatenate(cap_count)
        rng = np.random.default_rng(seed)
        n_clips = len(self.clip_feats)
        n_val = max(1, int(n_clips * val_fraction)) if n_clips > 1 else 0
        val_clips = set(rng.choice(n_clips, n_val, replace=False).tolist())
        is_val = np.array([self.pose_clip[p] in val_clips for p in self.cap_pose])
        self.train_caps, self.val_caps = np.flatnonzero(~is_val), np.flatnonzero(is_val)
        if len(self.val_caps) == 0:  # a single clip: validate on its own captions
            self.val_caps = self.train_caps
        self.train_poses = sorted({int(self.cap_pose[c]) for c in self.train_caps})
        self.latents: list[np.ndarray] = []
        self.audio_tokens = [pool_audio(f, -(-len(f) // DOWN)) for f in self.clip_feats]


def caption_segment_conditions(d, emb: np.ndarray) -> np.ndarray:
    """(captions, MAX_SEGMENTS, text_dim + SEGMENT_FEATURES) segment conditions of a corpus file ``d``: each segment's
    embedding, its screen direction and the mood the keyword parser reads for it in its caption
    (engine.pose.conditioning.segment_features, as the pipeline builds them); zeros past a caption's segments."""
    texts = [str(t) for t in d["texts"]]
    seg, caption_text = d["caption_segments"], d["caption_text_index"]
    out = np.zeros((len(seg), MAX_SEGMENTS, emb.shape[1] + SEGMENT_FEATURES), np.float32)
    moods_of: dict[int, list[str]] = {}
    for c in range(len(seg)):
        k = int(caption_text[c])
        if k not in moods_of:
            moods_of[k] = segment_moods(texts[k])
        for j, (i, mood) in enumerate(zip(seg[c], moods_of[k])):
            if i >= 0:
                out[c, j] = segment_features(emb[i], texts[i], mood)
    return out


def pose_windows(corpus: Corpus, idx: list[int], length: int, rng: np.random.Generator) -> torch.Tensor:
    out = np.zeros((len(idx), length, 6), np.float32)
    for i, p in enumerate(idx):
        pose = corpus.poses[p]
        s = int(rng.integers(0, max(1, len(pose) - length + 1)))
        w = pose[s : s + length]
        out[i, : len(w)] = w
        out[i, len(w) :] = w[-1]
    return torch.from_numpy(out)


def device_of(model: PLDModel) -> torch.device:
    """Where the model's weights are (``--device``): batches are drawn on the CPU and moved there."""
    return next(model.denoiser.parameters()).device


def train_vae(model: PLDModel, corpus: Corpus, steps: int, rng: np.random.Generator, log) -> None:
    vae = model.vae.train()
    opt = torch.optim.AdamW(vae.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=max(0.1, 3 / steps))
    for step in range(steps):
        batch = pose_windows(corpus, rng.choice(corpus.train_poses, 32).tolist(), 64, rng).to(device_of(model))
        loss, parts = vae.loss(batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(
                {
                    "stage": "vae",
                    "step": step,
                    "loss": round(loss.item(), 5),
                    **{k: round(v, 5) for k, v in parts.items()},
                }
            )
    vae.eval()


def _padded(pose: np.ndarray) -> torch.Tensor:
    """(1, n, 6) a motion with its last frame repeated to a whole number of latent tokens."""
    n = -(-len(pose) // DOWN) * DOWN
    return torch.from_numpy(np.concatenate([pose, np.repeat(pose[-1:], n - len(pose), axis=0)]))[None]


@torch.no_grad()
def encode_corpus(model: PLDModel, corpus: Corpus, keep_normalization: bool = False) -> dict[str, float]:
    """Latent means of every motion; sets the VAE's diffusion normalization (unless ``keep_normalization``: continued
    weights keep the one their denoiser was trained with); returns reconstruction error (deg)."""
    mus, errs = [], []
    device = device_of(model)
    for pose in corpus.poses:
        mu, _ = model.vae.encode(_padded(pose).to(device))
        mus.append(mu[0])
        rec = model.vae.decode(mu)[0, : len(pose)].cpu().numpy()
        errs.append(np.abs(rec[:, :3] - pose[:, :3]).mean())
    allz = torch.cat(mus)
    if not keep_normalization:
        model.vae.z_shift.copy_(allz.mean(0))
        model.vae.z_scale.copy_(allz.std(0).clamp(min=1e-3))
    corpus.latents = [model.vae.to_diffusion(m).cpu().numpy() for m in mus]
    return {"vae_rec_mae_deg": float(np.mean(errs))}


def _jitter(e: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """A unit embedding moved by Gaussian noise of ``sigma`` per dimension, renormalized."""
    out = e + rng.normal(0.0, sigma, e.shape).astype(np.float32)
    return out / max(float(np.linalg.norm(out)), 1e-6)


def window_conditions(
    corpus: Corpus, p: int, c: int, s: int, e: int, ramp_frames: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Motion ``p``'s audio tokens, caption ``c``'s segment weights and the edge times at tokens ``s:e``."""
    n_frames = len(corpus.poses[p])
    audio = corpus.audio_tokens[corpus.pose_clip[p]][s:e]
    weights = token_conditions(n_frames, int(corpus.cap_count[c]), ramp_frames)[0][s:e]
    return audio, weights, edge_seconds(n_frames)[s:e]


def denoiser_batch(
    corpus: Corpus,
    caps: np.ndarray,
    tokens: int,
    rng: np.random.Generator,
    text_drop: float,
    ramp_frames: float,
    text_noise: float = 0.0,
    audio_drop: float = 0.0,
):
    b = len(caps)
    z = np.zeros((b, tokens, corpus.latents[0].shape[1]), np.float32)
    audio = np.zeros((b, tokens, corpus.audio_tokens[0].shape[1]), np.float32)
    segs = corpus.cap_segs[caps].copy()
    weights = np.zeros((b, tokens, MAX_SEGMENTS), np.float32)
    edges = np.zeros((b, tokens, 2), np.float32)
    text = corpus.cap_text[caps].copy()
    mask = np.zeros((b, tokens, 1), np.float32)
    for i, c in enumerate(caps):
        p = corpus.cap_pose[c]
        lat = corpus.latents[p]
        s = int(rng.integers(0, max(1, len(lat) - tokens + 1)))
        e = min(len(lat), s + tokens)
        z[i, : e - s] = lat[s:e]
        audio[i, : e - s], weights[i, : e - s], edges[i, : e - s] = window_conditions(corpus, p, c, s, e, ramp_frames)
        r = rng.random()
        if r < 0.4:  # continuation of a previous window
            mask[i, : int(rng.integers(2, 12))] = 1.0
        elif r < 0.5:  # scattered known tokens
            mask[i, rng.random(tokens) < 0.15] = 1.0
        if rng.random() < audio_drop:  # no speech: the branch of guidance on the audio
            audio[i] = 0.0
        if rng.random() < text_drop:
            text[i] = 0.0
            segs[i] = 0.0
        elif text_noise > 0 and rng.random() < 0.5:  # nearby embeddings mean the same: paraphrases unseen here
            text[i] = _jitter(text[i], text_noise, rng)
            dim = text.shape[1]  # the segment's embedding; its direction and mood features stay as they are
            for j in range(int(corpus.cap_count[c])):
                segs[i, j, :dim] = _jitter(segs[i, j, :dim], text_noise, rng)
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    return t(z), t(audio), t(text), t(segs), t(weights), t(edges), t(mask)


def denoiser_loss(model: PLDModel, batch, gen: torch.Generator | None = None) -> torch.Tensor:
    """The v-prediction loss on a batch drawn by :func:`denoiser_batch` (times and noise drawn on the CPU, where
    ``gen`` is, and moved with the batch to the model's device), known tokens not counted."""
    device = device_of(model)
    z, audio, text, segs, weights, edges, mask = (x.to(device) for x in batch)
    times = sample_times(len(z), gen).to(device)
    eps = torch.randn(z.shape, generator=gen).to(device)
    x_t, v = add_noise(z, eps, times)
    cond = Conditions(audio=audio, text=text, segments=segs, weights=weights, edges=edges, known=z, mask=mask)
    pred = model.denoiser(x_t, times, cond)
    w = 1.0 - mask
    return ((pred - v) ** 2 * w).sum() / (w.sum() * z.shape[-1]).clamp(min=1.0)


def validation_batch(corpus: Corpus, ramp_frames: float):
    """The fixed validation batch (256 held-out captions, no dropout) both denoiser stages report on."""
    val_rng = np.random.default_rng(1234)
    val_caps = val_rng.choice(corpus.val_caps, min(256, len(corpus.val_caps)), replace=False)
    return denoiser_batch(corpus, val_caps, WINDOW, val_rng, 0.0, ramp_frames)


def validation_loss(model: PLDModel, val_batch) -> float:
    """The denoising loss on ``val_batch`` with fixed noise, the denoiser in eval mode for it."""
    model.denoiser.eval()
    with torch.no_grad():
        val = denoiser_loss(model, val_batch, torch.Generator().manual_seed(0)).item()
    model.denoiser.train()
    return val


def train_denoiser(
    model: PLDModel,
    corpus: Corpus,
    steps: int,
    rng: np.random.Generator,
    log,
    batch: int,
    text_noise: float = 0.0,
    audio_drop: float = 0.0,
    spread: SpreadInside | None = None,
) -> None:
    """Stage 2; with ``spread``, the spread loss is added on some of the last steps (:class:`SpreadInside`)."""
    den = model.denoiser.train()
    opt = torch.optim.AdamW(den.parameters(), lr=6e-4, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=6e-4, total_steps=steps, pct_start=max(0.05, 3 / steps))
    ramp = model.config.segment_ramp_frames  # the crossover of the model's "then" segments
    val_batch = validation_batch(corpus, ramp)
    ema = None
    t0 = time.time()
    for step in range(steps):
        tokens = WINDOW if rng.random() < 0.8 else int(rng.integers(8, WINDOW))
        caps = rng.choice(corpus.train_caps, batch)
        loss = denoiser_loss(model, denoiser_batch(corpus, caps, tokens, rng, TEXT_DROP, ramp, text_noise, audio_drop))
        if spread is not None and spread.due(step, steps):
            loss = loss + spread.weight * spread.loss(model)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(den.parameters(), 1.0)
        opt.step()
        sched.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 250 == 0 or step == steps - 1:
            val = validation_loss(model, val_batch)
            log(
                {
                    "stage": "denoiser",
                    "step": step,
                    "loss": round(ema, 5),
                    "val_loss": round(val, 5),
                    **(spread.logged if spread is not None else {}),
                    "seconds": round(time.time() - t0, 1),
                }
            )
    den.eval()
    if spread is not None:
        spread.close(model)


# ---------------------------------------------------------------------------------------------- stage 3: spread
SPREAD_BANDS_HZ = ((0.0, 0.5), (0.5, 1.2), (1.2, 4.0))  # drift and posture / mid / quick motion, compared apart
SPREAD_SAMPLER_STEPS = 8  # differentiable DDIM steps that draw the model's two takes of a line
# the samplers that can draw them: "short" (the steps above, the prompt's branch alone) or "engine" (the engine's
# own steps and guidance: what a user's takes are drawn by)
SPREAD_SAMPLERS = ("short", "engine")
SPREAD_PAIRS = 16  # lines per step, each drawn twice by the model (two noises) and taken twice by the teacher
SPREAD_FLOOR = 1.6e-5  # deg^2 added before the log, so near-still lines do not dominate
SPREAD_LR = 2e-4
SPREAD_WEIGHT = 0.2  # the spread loss beside the denoising loss


def take_pairs(path: str, seed: int, config: PLDConfig) -> tuple[Corpus, list[tuple[int, int]], dict[int, list[int]]]:
    """A corpus with several teacher takes of each line (``build_corpus.py --takes N``, N >= 2), split as the main
    corpus is, its segment conditions as wide as ``config``'s: the corpus, (first take, second take) motion indices of
    each training line, and each training motion's captions."""
    pairs_corpus = Corpus(path, VAL_FRACTION, seed)
    pairs_corpus.cap_segs = pairs_corpus.cap_segs[..., : config.text_dim + config.segment_features]
    takes = int(pairs_corpus.meta.get("takes", 1))
    if takes < 2:
        raise SystemExit(f"{path}: one teacher take per line; build it with build_corpus.py --takes 2")
    labels = np.load(path)["labels"]
    clip = pairs_corpus.pose_clip
    # build_corpus writes a line's takes one after another
    pairs = [(p, p + 1) for p in range(0, len(labels) - 1, takes)]
    if not all(labels[a] == labels[b] and clip[a] == clip[b] for a, b in pairs):
        raise SystemExit(f"{path}: the takes of a line are not next to each other")
    caps_of: dict[int, list[int]] = {}
    for c in pairs_corpus.train_caps:
        caps_of.setdefault(int(pairs_corpus.cap_pose[c]), []).append(int(c))
    long_enough = [(a, b) for a, b in pairs if a in caps_of and len(pairs_corpus.poses[a]) >= WINDOW * DOWN]
    return pairs_corpus, long_enough, caps_of


def spread_streams(seed: int) -> tuple[np.random.Generator, torch.Generator]:
    """The spread's own random streams (its batches, its noises), apart from stage 2's."""
    rng = np.random.default_rng([seed, 3])
    return rng, torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 3]).generate_state(1)[0]))


def band_power(diff: torch.Tensor, fps: float) -> torch.Tensor:
    """Mean square (deg^2) of take differences ``diff`` (B, F, 3) in each of SPREAD_BANDS_HZ: (bands, B, 3)."""
    frames = diff.shape[1]
    spec = torch.fft.rfft(diff, dim=1).abs() ** 2
    one_sided = torch.full((spec.shape[1],), 2.0)  # each bin but 0 (and Nyquist) stands for two
    one_sided[0] = 1.0
    if frames % 2 == 0:
        one_sided[-1] = 1.0
    freqs = torch.fft.rfftfreq(frames, 1.0 / fps)
    bands = [((freqs >= lo) if lo == 0 else (freqs > lo)) & (freqs <= hi) for lo, hi in SPREAD_BANDS_HZ]
    return torch.stack([(spec * one_sided[None, :, None])[:, band].sum(1) for band in bands]) / frames**2


def spread_batch(pc: Corpus, pairs, caps_of, n: int, rng: np.random.Generator, config: PLDConfig):
    """Conditions of ``n`` lines (one window each) and their teacher takes' difference (n, WINDOW * DOWN, 3)."""
    frames = WINDOW * DOWN
    audio, text, segs, weights, edges, teacher = [], [], [], [], [], []
    for i in rng.choice(len(pairs), n, replace=False):
        a, b = pairs[int(i)]
        n_frames = min(len(pc.poses[a]), len(pc.poses[b]))
        s = int(rng.integers(0, n_frames // DOWN - WINDOW + 1))
        c = caps_of[a][int(rng.integers(len(caps_of[a])))]
        window = window_conditions(pc, a, c, s, s + WINDOW, config.segment_ramp_frames)
        for out, x in zip((audio, weights, edges), window):
            out.append(x)
        text.append(pc.cap_text[c])
        segs.append(pc.cap_segs[c])
        teacher.append(pc.poses[a][s * DOWN : s * DOWN + frames, :3] - pc.poses[b][s * DOWN : s * DOWN + frames, :3])
    t = lambda x: torch.from_numpy(np.asarray(x, np.float32))  # noqa: E731
    cond = Conditions(
        audio=t(audio),
        text=t(text),
        segments=t(segs),
        weights=t(weights),
        edges=t(edges),
        known=torch.zeros(n, WINDOW, config.latent),
        mask=torch.zeros(n, WINDOW, 1),
    )
    return cond, t(teacher)


def two_takes(model: PLDModel, cond: Conditions, gen: torch.Generator, sampler: str = "short") -> torch.Tensor:
    """Two takes (two noises) of each window of ``cond`` by differentiable DDIM: rotations (2, B, WINDOW * DOWN, 3).
    ``sampler`` "short": SPREAD_SAMPLER_STEPS steps of the prompt's branch, no guidance; "engine": the engine's
    default steps with its classifier-free guidance on the noisier steps, the posture as the engine guides it."""
    both = Conditions(**{k: torch.cat([v, v]) for k, v in vars(cond).items()})
    b = both.audio.shape[0]
    x = torch.randn((b, WINDOW, model.config.latent), generator=gen)
    if sampler == "engine":
        steps, guided = (
            DEFAULT_STEPS,
            GuidedDenoiser(
                model.denoiser, DEFAULT_GUIDANCE, 1.0, (DEFAULT_GUIDANCE_UNTIL, 1.0), DEFAULT_POSTURE_GUIDANCE
            ),
        )
    else:
        steps, guided = SPREAD_SAMPLER_STEPS, GuidedDenoiser(model.denoiser, 1.0)
    times = ddim_times(steps)
    for i in range(steps):
        x = ddim_step(guided, x, float(times[i]), float(times[i + 1]), both)
    pose = model.vae.decode(model.vae.from_diffusion(x))[:, : WINDOW * DOWN, :3]
    return pose.view(2, b // 2, *pose.shape[1:])


def spread_loss(model: PLDModel, cond: Conditions, teacher: torch.Tensor, gen: torch.Generator, sampler: str = "short"):
    """Mean over lines, bands and rotation channels of the squared log ratio between the band power of the model's
    two takes' difference and that of the teacher's; and the model/teacher amplitude ratio per band (pooled)."""
    takes = two_takes(model, cond, gen, sampler)
    model_power, teacher_power = band_power(takes[0] - takes[1], MODEL_FPS), band_power(teacher, MODEL_FPS)
    loss = ((torch.log(model_power + SPREAD_FLOOR) - torch.log(teacher_power + SPREAD_FLOOR)) ** 2).mean()
    ratio = (model_power.detach().mean((1, 2)) / teacher_power.mean((1, 2))).sqrt()
    return loss, ratio


def round_to_saved(model: PLDModel, corpus: Corpus) -> None:
    """The weights as they are saved (float16) and ``corpus``'s latents encoded by them: stage 3 then starts from
    the same numbers whether it follows stage 2 or continues saved weights (``--init``)."""
    for net in (model.vae, model.denoiser):
        net.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in net.state_dict().items()})
    encode_corpus(model, corpus, keep_normalization=True)


def train_spread(
    model: PLDModel,
    pairs_path: str,
    steps: int,
    weight: float,
    seed: int,
    log,
    batch: int,
    text_noise: float,
    audio_drop: float,
    pairs_per_step: int = SPREAD_PAIRS,
    average: float = 0.0,
    sampler: str = "short",
) -> dict:
    """Stage 3: the denoiser learns how far two takes of one line differ (band by band, each line against its own
    teacher takes), with the denoising loss on the two-take corpus beside it (the corpus the spread is taught from;
    split with the main corpus's seed, so corpora built from the same clips hold out the same ones). A constant rate;
    ``pairs_per_step`` lines drawn twice a step; with ``average`` > 0 the weights kept are their moving average over
    the run (``average`` a step). Its own random streams (seeded by ``seed``). Returns the pairs corpus's metadata."""
    pc, pairs, caps_of = take_pairs(pairs_path, seed, model.config)
    round_to_saved(model, pc)
    rng, gen = spread_streams(seed)
    ramp = model.config.segment_ramp_frames
    val_batch = validation_batch(pc, ramp)
    den = model.denoiser.train()
    for p in model.vae.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(den.parameters(), lr=SPREAD_LR, weight_decay=0.01)
    averaged = [p.detach().clone() for p in den.parameters()] if average > 0 else None
    log({"stage": "spread", "pairs": len(pairs), "pairs_corpus_seed": pc.meta.get("seed")})
    t0 = time.time()
    for step in range(steps):
        caps = rng.choice(pc.train_caps, batch)
        anchor = denoiser_loss(
            model, denoiser_batch(pc, caps, WINDOW, rng, TEXT_DROP, ramp, text_noise, audio_drop), gen
        )
        cond, teacher = spread_batch(pc, pairs, caps_of, min(pairs_per_step, len(pairs)), rng, model.config)
        spread, ratio = spread_loss(model, cond, teacher, gen, sampler)
        opt.zero_grad()
        (anchor + weight * spread).backward()
        torch.nn.utils.clip_grad_norm_(den.parameters(), 1.0)
        opt.step()
        if averaged is not None:
            with torch.no_grad():
                for avg, p in zip(averaged, den.parameters()):
                    avg.lerp_(p, 1.0 - average)
        if step % 50 == 0 or step == steps - 1:
            val = validation_loss(model, val_batch)
            log(
                {
                    "stage": "spread",
                    "step": step,
                    "loss": round(anchor.item(), 5),
                    "spread_loss": round(spread.item(), 5),
                    "take_ratio": [round(float(r), 3) for r in ratio],
                    "val_loss": round(val, 5),
                    "seconds": round(time.time() - t0, 1),
                }
            )
    if averaged is not None:
        with torch.no_grad():
            for avg, p in zip(averaged, den.parameters()):
                p.copy_(avg)
        log({"stage": "spread", "averaged_val_loss": round(validation_loss(model, val_batch), 5)})
    den.eval()
    for p in model.vae.parameters():
        p.requires_grad_(True)
    return pc.meta


class SpreadInside:
    """The spread loss taught inside stage 2 rather than after it: on every ``every``-th of the denoiser's last
    ``last`` steps, ``weight`` × :func:`spread_loss` (each line against its own teacher takes) is added to that step's
    denoising loss, at stage 2's own rate. Its batches come from the pairs corpus on random streams of their own, so
    stage 2's batches are those of the run without it."""

    def __init__(
        self,
        model: PLDModel,
        pairs_path: str,
        last: int,
        every: int,
        weight: float,
        seed: int,
        pairs_per_step: int,
        sampler: str = "short",
    ) -> None:
        self.sampler = sampler
        self.pc, self.pairs, self.caps_of = take_pairs(pairs_path, seed, model.config)
        self.final_steps, self.every, self.weight, self.pairs_per_step = last, every, weight, pairs_per_step
        self.rng, self.gen = spread_streams(seed)
        self.logged: dict[str, object] = {}  # the latest values, for the log
        for p in model.vae.parameters():  # the decoder is in the graph, never trained here
            p.requires_grad_(False)

    def due(self, step: int, steps: int) -> bool:
        start = max(0, steps - self.final_steps)
        return step >= start and (step - start) % self.every == 0

    def loss(self, model: PLDModel) -> torch.Tensor:
        n = min(self.pairs_per_step, len(self.pairs))
        cond, teacher = spread_batch(self.pc, self.pairs, self.caps_of, n, self.rng, model.config)
        value, ratio = spread_loss(model, cond, teacher, self.gen, self.sampler)
        self.logged = {"spread_loss": round(value.item(), 5), "take_ratio": [round(float(r), 3) for r in ratio]}
        return value

    def close(self, model: PLDModel) -> None:
        for p in model.vae.parameters():
            p.requires_grad_(True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", action="append", help="corpus .npz (repeat to join several; default data/corpus.npz)")
    ap.add_argument("--out", default=DEFAULT_PATH)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vae-steps", type=int, default=800)
    ap.add_argument("--steps", type=int, default=30000, help="denoiser steps")
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--device", default="cpu", help="where stages 1 and 2 train (e.g. cuda; the weights differ from the CPU's)"
    )
    ap.add_argument(
        "--text-noise", type=float, default=0.03, help="Gaussian noise per dimension on half the caption embeddings"
    )
    ap.add_argument(
        "--audio-drop", type=float, default=0.1, help="probability of training without the audio (audio guidance)"
    )
    ap.add_argument("--config", default="{}", help="JSON overrides of the model config (tiny runs in tests)")
    ap.add_argument("--init", default=None, help="continue from these weights (with --vae-steps 0: keep their VAE)")
    ap.add_argument("--log", default=None, help="also append the JSON log lines to this file")
    ap.add_argument(
        "--take-pairs",
        default=None,
        help="a corpus with two teacher takes per line (build_corpus.py --takes 2): stage 3 teaches the denoiser how "
        "far two takes of one line differ",
    )
    ap.add_argument("--spread-sampler", choices=SPREAD_SAMPLERS, default="short",
                    help="what draws the model's two takes: a short unguided sampler or the engine's own")  # fmt: skip
    ap.add_argument("--spread-steps", type=int, default=1000, help="stage 3 steps (with --take-pairs)")
    ap.add_argument("--spread-weight", type=float, default=SPREAD_WEIGHT, help="stage 3's weight on the spread loss")
    ap.add_argument("--spread-pairs", type=int, default=SPREAD_PAIRS, help="stage 3's lines per step, each drawn twice")
    ap.add_argument(
        "--spread-average",
        type=float,
        default=0.0,
        help="keep stage 3's weights averaged over its run (a moving average, this much a step; 0: the last weights)",
    )
    ap.add_argument(
        "--spread-inside",
        type=int,
        default=0,
        metavar="LAST",
        help="with --take-pairs: teach the spread inside stage 2, on its last LAST steps, instead of a stage 3 after it",
    )
    ap.add_argument(
        "--spread-every", type=int, default=5, help="with --spread-inside: the spread loss on every Nth step"
    )
    args = ap.parse_args()
    if args.spread_inside and not args.take_pairs:
        ap.error("--spread-inside needs --take-pairs")
    if args.device != "cpu" and args.take_pairs:
        ap.error("--take-pairs trains on the CPU only (leave out --device)")
    try:
        device = torch.device(args.device)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as exc:  # an unknown name, or a device this torch or machine lacks
        ap.error(f"--device {args.device}: {str(exc).splitlines()[0]}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng([args.seed, 1] if args.init else args.seed)  # a continued run draws new batches
    t0, commit = time.time(), git_commit(ROOT)  # the code that trains: as it is now, not when the run ends

    def log(row: dict) -> None:
        line = json.dumps(row)
        print(line, flush=True)
        if args.log:
            with open(args.log, "a") as fh:
                fh.write(line + "\n")

    corpus = Corpus(args.corpus or [os.path.join(ROOT, "data", "corpus.npz")], VAL_FRACTION, args.seed)
    log(
        {
            "stage": "corpus",
            "motions": len(corpus.poses),
            "train_captions": len(corpus.train_caps),
            "val_captions": len(corpus.val_caps),
            "corpus_seed": corpus.meta["seed"],
        }
    )
    model = PLDModel.load(args.init) if args.init else PLDModel(PLDConfig.from_dict(json.loads(args.config)))
    model.to(device)
    corpus.cap_segs = corpus.cap_segs[..., : model.config.text_dim + model.config.segment_features]
    previous = int(model.metadata.get("denoiser_steps", 0)) if args.init else 0
    log(
        {
            "stage": "model",
            "vae_params": sum(p.numel() for p in model.vae.parameters()),
            "denoiser_params": sum(p.numel() for p in model.denoiser.parameters()),
        }
    )
    if args.vae_steps > 0:
        train_vae(model, corpus, args.vae_steps, rng, log)
    keep = bool(args.init) and args.vae_steps == 0  # the init's VAE and the normalization its denoiser knows
    log({"stage": "encode", **encode_corpus(model, corpus, keep), "seconds": round(time.time() - t0, 1)})
    inside = None
    if args.take_pairs and args.spread_inside > 0:
        inside = SpreadInside(
            model,
            args.take_pairs,
            args.spread_inside,
            args.spread_every,
            args.spread_weight,
            args.seed,
            args.spread_pairs,
            args.spread_sampler,
        )
        log({"stage": "spread", "inside_last_steps": args.spread_inside, "every": args.spread_every,
             "pairs": len(inside.pairs), "pairs_corpus_seed": inside.pc.meta.get("seed")})  # fmt: skip
    if args.steps > 0:
        train_denoiser(model, corpus, args.steps, rng, log, args.batch, args.text_noise, args.audio_drop, inside)
    spread, pairs_meta = {}, None
    if inside is not None:
        spread = {"spread_inside_last_steps": args.spread_inside, "spread_every": args.spread_every}
        pairs_meta = inside.pc.meta
    elif args.take_pairs and args.spread_steps > 0:
        pairs_meta = train_spread(
            model,
            args.take_pairs,
            args.spread_steps,
            args.spread_weight,
            args.seed,
            log,
            args.batch,
            args.text_noise,
            args.audio_drop,
            args.spread_pairs,
            args.spread_average,
            args.spread_sampler,
        )
        spread = {"spread_steps": args.spread_steps, "spread_average": args.spread_average}
    if pairs_meta is not None:  # the spread was taught, inside stage 2 or after it
        spread.update(
            spread_weight=args.spread_weight,
            spread_pairs=args.spread_pairs,
            spread_sampler=args.spread_sampler,
            pairs_corpus_seed=pairs_meta.get("seed"),
            pairs_corpus_clips=pairs_meta.get("clips"),
        )
    history = list(model.metadata.get("history", [])) if args.init else []
    if args.init:  # the runs the initial weights came from, oldest first
        history.append(
            {k: model.metadata.get(k) for k in ("corpus_seed", "train_seed", "denoiser_steps", "git_commit")}
        )
    meta = {
        "history": history,
        "corpus_seed": corpus.meta["seed"],
        "train_seed": args.seed,
        "train_device": str(device),
        "vae_steps": args.vae_steps or int(model.metadata.get("vae_steps", 0)),
        "denoiser_steps": previous + args.steps,
        "text_noise": args.text_noise,
        "text_drop": TEXT_DROP,
        "audio_drop": args.audio_drop,
        "git_commit": commit,
        "max_segments": MAX_SEGMENTS,
        **spread,
        "train_seconds": round(time.time() - t0, 1),
    }
    model.to("cpu").save(args.out, meta)
    log({"stage": "done", "out": args.out, "bytes": os.path.getsize(args.out), **meta})


if __name__ == "__main__":
    main()
