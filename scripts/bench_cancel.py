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
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = "Good evening and welcome back. Tonight we talk about the weather, the markets, and a small town railway."


class Worker:
    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve"], cwd=ROOT, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=1,
        )  # fmt: skip
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.events.get(timeout=300)[1]["event"] == "ready"

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.events.put((time.perf_counter(), json.loads(line)))

    def send(self, request: dict) -> None:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()

    def until(self, job_id: str, timeout: float = 600) -> tuple[float, dict]:
        while True:
            t, event = self.events.get(timeout=timeout)
            if event.get("id") == job_id and event["event"] in ("result", "error"):
                return t, event


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
    worker = Worker()
    worker.send({"id": "warm", "op": "pose", "params": {"audio": raw, "prompt": "nods"}})  # models loaded
    worker.until("warm")
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
            t, event = worker.until(job_id)
            if event["event"] == "error" and event["code"] == "cancelled":
                latencies.append(round(t - sent, 3))
        out["ops"][name] = {"latency_s": latencies, "max_s": max(latencies, default=None),
                            "median_s": statistics.median(latencies) if latencies else None}  # fmt: skip
    worker.send({"op": "shutdown"})
    worker.proc.wait(timeout=60)
    out["max_s"] = max(v["max_s"] for v in out["ops"].values() if v["max_s"] is not None)
    out["meets_target"] = out["max_s"] <= out["target_s"]
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
