"""Train the Pose Latent Diffusion model on the motion corpus (CPU works; CUDA if present).

    .venv/bin/python scripts/build_corpus.py --seed 0            # data/corpus.npz
    .venv/bin/python scripts/train_pose.py --seed 0              # engine/weights/pld.safetensors

Stage 1 trains the pose VAE on random pose windows; stage 2 encodes every motion and
trains the latent denoiser on random windows with a random caption of the motion,
text and audio dropout (classifier-free guidance on each) and random inpainting masks. Clips of 5 % of the
audio (with all their captions) are held out for validation. Losses are logged as JSON lines.
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

from engine.pose.conditioning import MAX_SEGMENTS, pool_audio, segment_direction, token_conditions  # noqa: E402
from engine.pose.config import PLDConfig  # noqa: E402
from engine.pose.denoiser import Conditions  # noqa: E402
from engine.pose.pipeline import WINDOW, PLDModel, edge_seconds  # noqa: E402
from engine.pose.schedule import add_noise, sample_times  # noqa: E402
from engine.pose.vae import DOWN  # noqa: E402
from engine.pose.weights import DEFAULT_PATH, git_commit  # noqa: E402

TEXT_DROP = 0.15  # probability of training without the prompt (classifier-free guidance)


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
            # a segment's condition: its embedding and its screen direction (engine.pose.conditioning)
            directions = np.array([segment_direction(str(t)) for t in d["texts"]], np.float32)[:, None]
            seg_features = np.concatenate([emb, directions], axis=1)
            seg = d["caption_segments"]
            cap_count.append((seg >= 0).sum(axis=1))
            cap_segs.append(np.where((seg >= 0)[..., None], seg_features[np.maximum(seg, 0)], 0.0).astype(np.float32))
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


def pose_windows(corpus: Corpus, idx: list[int], length: int, rng: np.random.Generator) -> torch.Tensor:
    out = np.zeros((len(idx), length, 6), np.float32)
    for i, p in enumerate(idx):
        pose = corpus.poses[p]
        s = int(rng.integers(0, max(1, len(pose) - length + 1)))
        w = pose[s : s + length]
        out[i, : len(w)] = w
        out[i, len(w) :] = w[-1]
    return torch.from_numpy(out)


def train_vae(model: PLDModel, corpus: Corpus, steps: int, rng: np.random.Generator, log) -> None:
    vae = model.vae.train()
    opt = torch.optim.AdamW(vae.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=max(0.1, 3 / steps))
    for step in range(steps):
        batch = pose_windows(corpus, rng.choice(corpus.train_poses, 32).tolist(), 64, rng)
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


@torch.no_grad()
def encode_corpus(model: PLDModel, corpus: Corpus) -> dict[str, float]:
    """Latent means of every motion; sets the VAE's diffusion normalization; returns reconstruction error (deg)."""
    mus, errs = [], []
    for pose in corpus.poses:
        n = -(-len(pose) // DOWN) * DOWN
        padded = np.concatenate([pose, np.repeat(pose[-1:], n - len(pose), axis=0)])
        mu, _ = model.vae.encode(torch.from_numpy(padded)[None])
        mus.append(mu[0])
        rec = model.vae.decode(mu)[0, : len(pose)].numpy()
        errs.append(np.abs(rec[:, :3] - pose[:, :3]).mean())
    allz = torch.cat(mus)
    model.vae.z_shift.copy_(allz.mean(0))
    model.vae.z_scale.copy_(allz.std(0).clamp(min=1e-3))
    corpus.latents = [model.vae.to_diffusion(m).numpy() for m in mus]
    return {"vae_rec_mae_deg": float(np.mean(errs))}


def _jitter(e: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """A unit embedding moved by Gaussian noise of ``sigma`` per dimension, renormalized."""
    out = e + rng.normal(0.0, sigma, e.shape).astype(np.float32)
    return out / max(float(np.linalg.norm(out)), 1e-6)


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
        n_frames = len(corpus.poses[p])
        s = int(rng.integers(0, max(1, len(lat) - tokens + 1)))
        e = min(len(lat), s + tokens)
        z[i, : e - s] = lat[s:e]
        audio[i, : e - s] = corpus.audio_tokens[corpus.pose_clip[p]][s:e]
        weights[i, : e - s] = token_conditions(n_frames, int(corpus.cap_count[c]), ramp_frames)[0][s:e]
        edges[i, : e - s] = edge_seconds(n_frames)[s:e]
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
            dim = text.shape[1]  # the segment's embedding; its direction feature stays as it is
            for j in range(int(corpus.cap_count[c])):
                segs[i, j, :dim] = _jitter(segs[i, j, :dim], text_noise, rng)
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    return t(z), t(audio), t(text), t(segs), t(weights), t(edges), t(mask)


def denoiser_loss(model: PLDModel, batch, gen: torch.Generator | None = None) -> torch.Tensor:
    z, audio, text, segs, weights, edges, mask = batch
    times = sample_times(len(z), gen)
    eps = torch.randn(z.shape, generator=gen)
    x_t, v = add_noise(z, eps, times)
    cond = Conditions(audio=audio, text=text, segments=segs, weights=weights, edges=edges, known=z, mask=mask)
    pred = model.denoiser(x_t, times, cond)
    w = 1.0 - mask
    return ((pred - v) ** 2 * w).sum() / (w.sum() * z.shape[-1]).clamp(min=1.0)


def train_denoiser(
    model: PLDModel,
    corpus: Corpus,
    steps: int,
    rng: np.random.Generator,
    log,
    batch: int,
    text_noise: float = 0.0,
    audio_drop: float = 0.0,
) -> None:
    den = model.denoiser.train()
    opt = torch.optim.AdamW(den.parameters(), lr=6e-4, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=6e-4, total_steps=steps, pct_start=max(0.05, 3 / steps))
    val_rng = np.random.default_rng(1234)
    val_caps = val_rng.choice(corpus.val_caps, min(256, len(corpus.val_caps)), replace=False)
    ramp = model.config.segment_ramp_frames  # the crossover of the model's "then" segments
    val_batch = denoiser_batch(corpus, val_caps, WINDOW, val_rng, 0.0, ramp)
    ema = None
    t0 = time.time()
    for step in range(steps):
        tokens = WINDOW if rng.random() < 0.8 else int(rng.integers(8, WINDOW))
        caps = rng.choice(corpus.train_caps, batch)
        loss = denoiser_loss(model, denoiser_batch(corpus, caps, tokens, rng, TEXT_DROP, ramp, text_noise, audio_drop))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(den.parameters(), 1.0)
        opt.step()
        sched.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 250 == 0 or step == steps - 1:
            den.eval()
            with torch.no_grad():
                val = denoiser_loss(model, val_batch, torch.Generator().manual_seed(0)).item()
            den.train()
            log(
                {
                    "stage": "denoiser",
                    "step": step,
                    "loss": round(ema, 5),
                    "val_loss": round(val, 5),
                    "seconds": round(time.time() - t0, 1),
                }
            )
    den.eval()


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
        "--text-noise", type=float, default=0.03, help="Gaussian noise per dimension on half the caption embeddings"
    )
    ap.add_argument(
        "--audio-drop", type=float, default=0.1, help="probability of training without the audio (audio guidance)"
    )
    ap.add_argument("--config", default="{}", help="JSON overrides of the model config (tiny runs in tests)")
    ap.add_argument("--init", default=None, help="continue from these weights (with --vae-steps 0: keep their VAE)")
    ap.add_argument("--log", default=None, help="also append the JSON log lines to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng([args.seed, 1] if args.init else args.seed)  # a continued run draws new batches
    t0 = time.time()

    def log(row: dict) -> None:
        line = json.dumps(row)
        print(line, flush=True)
        if args.log:
            with open(args.log, "a") as fh:
                fh.write(line + "\n")

    corpus = Corpus(args.corpus or [os.path.join(ROOT, "data", "corpus.npz")], 0.05, args.seed)
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
    log({"stage": "encode", **encode_corpus(model, corpus), "seconds": round(time.time() - t0, 1)})
    train_denoiser(model, corpus, args.steps, rng, log, args.batch, args.text_noise, args.audio_drop)
    history = list(model.metadata.get("history", [])) if args.init else []
    if args.init:  # the runs the initial weights came from, oldest first
        history.append(
            {k: model.metadata.get(k) for k in ("corpus_seed", "train_seed", "denoiser_steps", "git_commit")}
        )
    meta = {
        "history": history,
        "corpus_seed": corpus.meta["seed"],
        "train_seed": args.seed,
        "vae_steps": args.vae_steps or int(model.metadata.get("vae_steps", 0)),
        "denoiser_steps": previous + args.steps,
        "text_noise": args.text_noise,
        "text_drop": TEXT_DROP,
        "audio_drop": args.audio_drop,
        "git_commit": git_commit(ROOT),
        "max_segments": MAX_SEGMENTS,
        "train_seconds": round(time.time() - t0, 1),
    }
    model.save(args.out, meta)
    log({"stage": "done", "out": args.out, "bytes": os.path.getsize(args.out), **meta})


if __name__ == "__main__":
    main()
