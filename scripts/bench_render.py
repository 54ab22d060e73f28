"""Renderer speed at 512²: frames/s of synthesis (batched), of PNG writing and of the whole render op on CPU,
and of synthesis on CUDA if present.

Prints JSON. Usage: ``python scripts/bench_render.py [--frames 200] [--threads N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.formats import lips_document, pose_document  # noqa: E402
from engine.jobs import Job, run_op  # noqa: E402
from engine.render import Renderer  # noqa: E402
from engine.render_ops import PATTERN, _write_png  # noqa: E402


def motion(n: int, fps: float = 25.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(n) / fps
    pose = np.stack([5 * np.sin(2 * t), 10 * np.sin(1.3 * t), 4 * np.sin(0.7 * t), 0.05 * np.sin(t),
                     0.03 * np.sin(1.7 * t), 1 + 0.03 * np.sin(0.9 * t)], axis=1)  # fmt: skip
    lips = np.stack([np.clip(np.sin(9 * t), 0, 1), 0.3 * np.clip(np.sin(3 * t), 0, 1),
                     0.3 * np.clip(np.cos(2 * t), 0, 1), (np.sin(5 * t) > 0.95).astype(float)], axis=1)  # fmt: skip
    return pose, lips


def synth_fps(r: Renderer, n: int, batch: int) -> float:
    pose, lips = motion(n)
    chans = ["mouth_open", "mouth_wide", "mouth_round", "lips_closed"]
    for _ in r.render(pose[: batch * 2], lips[: batch * 2], chans, batch=batch):  # warm up
        pass
    if r.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in r.render(pose, lips, chans, batch=batch):
        pass
    if r.device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default=str(ROOT / "examples" / "portrait.png"))
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result: dict = {"size": 512, "cpu_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    t0 = time.perf_counter()
    r = Renderer(args.image, size=512, device="cpu")
    result["setup_s"] = round(time.perf_counter() - t0, 3)
    result["cpu_synthesis_fps"] = round(synth_fps(r, args.frames, args.batch), 1)
    threads = torch.get_num_threads()
    if threads > 1:  # the render op's setting: one core left to the PNG writer
        torch.set_num_threads(threads - 1)
        result[f"cpu_synthesis_fps_{threads - 1}_threads"] = round(synth_fps(r, args.frames, args.batch), 1)
        torch.set_num_threads(threads)
    frames = next(r.render(*motion(args.batch), ["mouth_open", "mouth_wide", "mouth_round", "lips_closed"],
                           batch=args.batch))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        k = 0
        while k < args.frames // 2:
            _write_png(os.path.join(tmp, PATTERN % (k + 1)), frames[k % len(frames)])
            k += 1
        result["png_write_fps"] = round(k / (time.perf_counter() - t0), 1)
    s, p = result["cpu_synthesis_fps"], result["png_write_fps"]
    result["cpu_serial_fps"] = round(1.0 / (1.0 / s + 1.0 / p), 1)  # synthesis then writing, one after the other
    pose, lips = motion(args.frames)
    chans = ["mouth_open", "mouth_wide", "mouth_round", "lips_closed"]
    with tempfile.TemporaryDirectory() as tmp:  # the render op: PNGs written on a thread while synthesizing
        params = {"image": args.image, "pose": pose_document(pose, 25.0), "lips": lips_document(lips, chans, 25.0),
                  "size": 512, "out": os.path.join(tmp, "frames"), "device": "cpu", "batch": args.batch}  # fmt: skip
        t0 = time.perf_counter()
        run_op("render", params, Job("bench"))
        result["cpu_render_op_fps"] = round(args.frames / (time.perf_counter() - t0), 1)  # set-up included
    if torch.cuda.is_available():
        rc = Renderer(args.image, size=512, device="cuda")
        result["cuda_device"] = torch.cuda.get_device_name(0)
        for b in (16, 64, 256):
            result[f"cuda_synthesis_fps_batch{b}"] = round(synth_fps(rc, max(args.frames, 4 * b), b), 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
