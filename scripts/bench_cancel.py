#!/usr/bin/env python
"""Cancel latency of the worker: the time from a ``cancel`` request to the job's ``cancelled`` event, for every
long op, at several moments into the job; prints one JSON object.

A real worker (``python -m engine serve``) runs each op on 3 minutes of espeak-ng speech (render: 750 frames of
the bundled portrait at 512²) and is asked to cancel 0.3, 1, 2 and 4 s after the job started. The target is
at most 1 s. Run: ``.venv/bin/python scripts/bench_cancel.py [--delays 0.3 1 2 4]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.client import WorkerProcess  # noqa: E402

TEXT = "Good evening and welcome back. Tonight we talk about the weather, the markets, and a small town railway."


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delays", type=float, nargs="+", default=[0.3, 1.0, 2.0, 4.0])
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="posetalk-cancel-")
    raw, audio = os.path.join(tmp, "raw.wav"), os.path.join(tmp, "speech.wav")
    subprocess.run(["espeak-ng", "-w", raw, TEXT], check=True)
    subprocess.run(["sox", raw, audio, "repeat", "40", "trim", "0", "180"], check=True)
    pose = {"format": "posetalk.pose/1", "fps": 25.0, "channels": ["pitch", "yaw", "roll", "x", "y", "scale"],
            "frames": [[5.0, 0.0, 0.0, 0.0, 0.0, 1.0]] * 750}  # fmt: skip
    image = str(ROOT / "examples" / "portrait.png")
    jobs = {
        "pose_pld": ("pose", {"audio": audio, "prompt": "nods", "backend": "pld"}),
        "pose_procedural": ("pose", {"audio": audio, "prompt": "nods", "backend": "procedural"}),
        "lips": ("lips", {"audio": audio}),
        "render": ("render", {"image": image, "pose": pose, "out": os.path.join(tmp, "frames")}),
        "animate": ("animate", {"image": image, "audio": audio, "prompt": "nods", "out": os.path.join(tmp, "a.mp4")}),
    }
    worker = WorkerProcess()
    worker.send({"id": "warm", "op": "pose", "params": {"audio": raw, "prompt": "nods"}})  # models loaded
    worker.until_done("warm", timeout=600)
    out: dict = {"delays_s": args.delays, "target_s": 1.0, "ops": {}}
    k = 0
    for name, (op, params) in jobs.items():
        latencies = []
        for delay in args.delays:
            k += 1
            job_id = f"{name}-{k}"
            worker.send({"id": job_id, "op": op, "params": params})
            time.sleep(delay)
            sent = time.perf_counter()
            worker.send({"op": "cancel", "id": job_id})
            event = worker.until_done(job_id, timeout=600)[-1]
            t = worker.answered_at[job_id]
            if event["event"] == "error" and event["code"] == "cancelled":
                latencies.append(round(t - sent, 3))
        out["ops"][name] = {"latency_s": latencies, "max_s": max(latencies, default=None),
                            "median_s": statistics.median(latencies) if latencies else None}  # fmt: skip
    worker.close(timeout=60)
    out["max_s"] = max(v["max_s"] for v in out["ops"].values() if v["max_s"] is not None)
    out["meets_target"] = out["max_s"] <= out["target_s"]
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
