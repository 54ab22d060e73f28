#!/usr/bin/env python
"""Speed and memory benchmark of the engine; prints one JSON object.

pose: seconds to turn 60 s of real espeak-ng speech into pose frames on the CPU
(audio decoding and features included; model load and warm-up excluded and
reported separately), for each pose backend, and the same for 30 minutes (features of the
60 s tiled; time and peak memory of a fresh process). lips: × real time for the same 60 s.
render: frames/s at 512² (synthesis and PNG writing separately, CUDA when there is
one), from ``scripts/bench_render.py``. Peak resident memory of the pose/lips part.
Run: ``.venv/bin/python scripts/bench.py [--backend NAME] [--threads N] [--no-render]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXT = (
    "Good evening, and welcome back. Tonight we talk about the weather, the markets, and a small town "
    "that built its own railway. It took them eleven years, three mayors and a great deal of patience. "
)


def make_speech(seconds: float, folder: str) -> str:
    """Real speech of at least ``seconds`` (espeak-ng, repeated with sox), trimmed exactly."""
    raw = os.path.join(folder, "raw.wav")
    subprocess.run(["espeak-ng", "-s", "165", "-w", raw, TEXT], check=True, capture_output=True)
    out = os.path.join(folder, f"speech{int(seconds)}.wav")
    subprocess.run(["sox", raw, out, "repeat", "20", "trim", "0", str(seconds)], check=True, capture_output=True)
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_pose(backend: str, audio: str, warm_audio: str, repeats: int) -> dict:
    from engine.jobs import Job, run_op

    params = {"audio": audio, "prompt": "nods while talking, then looks to the left", "seed": 0, "backend": backend}
    t0 = time.perf_counter()
    run_op("pose", {**params, "audio": warm_audio}, Job())  # loads models, text encoder, caches
    load_s = time.perf_counter() - t0
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        result = run_op("pose", {**params, "seed": i + 1, "prompt": f"{params['prompt']} take {i}"}, Job())
        times.append(time.perf_counter() - t0)
    return {
        "backend": result["backend"],
        "audio_seconds": 60.0,
        "frames": result["n_frames"],
        "load_and_warmup_s": round(load_s, 3),
        "pose_60s_audio_s": round(statistics.median(times), 3),
        "pose_60s_audio_runs_s": [round(t, 3) for t in times],
        "target_s": 2.0,
        "meets_target": statistics.median(times) <= 2.0,
    }


LONG_SCRIPT = """
import json, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[3]))
from engine.audio import load_features
from engine.backends import get_backend
backend = get_backend(sys.argv[2])
def peak():  # this process's own high-water mark (ru_maxrss would include the parent's, kept across exec)
    return next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")) / 1024
f60 = load_features(sys.argv[1], 25.0)
backend.generate(f60.slice(0, 125), "talks", 0, None, lambda *a: None)  # load and warm up
feats = type(f60)(**{k: (np.tile(v, 30 if v.ndim == 1 else (30, 1)) if isinstance(v, np.ndarray) else v)
                     for k, v in vars(f60).items()})
feats.duration = 30 * f60.duration
t0 = time.perf_counter()
out = backend.generate(feats, "talks and nods now and then", 0, None, lambda *a: None)
print(json.dumps({"frames": len(out), "seconds": time.perf_counter() - t0,
                  "peak_rss_mb": peak()}))
"""


def run_python_json(*args: str) -> dict:
    """Run ``python *args`` in a fresh process and read the JSON it prints ({"error": ...} if it fails)."""
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout)


def bench_pose_long(backend: str, audio: str, threads: int) -> dict:
    """30 minutes of speech features (the 60 s clip 30 times) through a backend, in a fresh process."""
    out = run_python_json("-c", LONG_SCRIPT, audio, backend, str(threads))
    if "error" in out:
        return out
    return {
        "pose_30min_audio_s": round(out["seconds"], 2),
        "pose_30min_frames": out["frames"],
        "pose_30min_peak_rss_mb": round(out["peak_rss_mb"], 1),
    }


def bench_lips(audio: str, warm_audio: str, repeats: int) -> dict:
    from engine.jobs import Job, run_op

    run_op("lips", {"audio": warm_audio}, Job())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run_op("lips", {"audio": audio, "fps": 25.0}, Job())
        times.append(time.perf_counter() - t0)
    best = statistics.median(times)
    return {
        "audio_seconds": 60.0,
        "frames": result["n_frames"],
        "lips_60s_audio_s": round(best, 3),
        "x_realtime": round(60.0 / best, 1),
        "target_x_realtime": 20,
    }


def bench_render(threads: int) -> dict:
    return run_python_json(str(ROOT / "scripts" / "bench_render.py"), "--threads", str(threads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", action="append", help="pose backend(s) to time (default: all)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, as CI)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-render", action="store_true", help="skip the renderer benchmark")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from engine.backends import available

    report: dict = {"cpu_threads": args.threads, "cpu_count": os.cpu_count(), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        audio = make_speech(60.0, tmp)
        warm = make_speech(5.0, tmp)
        report["pose"] = [
            {**bench_pose(b, audio, warm, args.repeats), **bench_pose_long(b, audio, args.threads)}
            for b in (args.backend or available())
        ]
        report["lips"] = bench_lips(audio, warm, args.repeats)
    report["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if not args.no_render:
        report["render"] = bench_render(args.threads)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
