"""A Python client of the JSON-lines worker (``python -m engine serve``) for scripts, benchmarks and tests.

It starts the worker as a subprocess of the same Python, reads its events on a thread into a queue and notes
when each job's answer arrived (cancel latency is measured from it). Blender's add-on has its own stdlib-only
client (``addon/engine_client.py``) because it ships without the engine's package.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = ("result", "error")  # the events that end a request: exactly one per request line


class WorkerDied(RuntimeError):
    """The worker's stdout closed while an event was awaited."""


class WorkerProcess:
    """One worker subprocess; ``send`` a request (a dict, or a raw line to test the parser), read its events."""

    def __init__(self, *, ready_timeout: float = 300) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        self.log = tempfile.TemporaryFile(mode="w+")  # the worker's stderr: a pipe nobody reads would fill and block it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve"], cwd=ROOT, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, bufsize=1,
        )  # fmt: skip
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.raw: list[str] = []
        self.answered_at: dict[str, float] = {}  # job id → time.perf_counter() when its result/error arrived
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = self.next(ready_timeout)
        if self.ready.get("event") != "ready":
            raise WorkerDied(f"the worker did not say ready: {self.ready}")

    def _read(self) -> None:
        for line in self.proc.stdout:
            event = json.loads(line)
            if event.get("event") in ANSWERS and isinstance(event.get("id"), str):
                self.answered_at[event["id"]] = time.perf_counter()
            self.raw.append(line)
            self.events.put(event)
        self.events.put(None)

    def log_tail(self, chars: int = 2000) -> str:
        """The end of what the worker wrote to stderr."""
        self.log.seek(0)
        return self.log.read()[-chars:]

    def send(self, request: dict[str, Any] | str) -> None:
        """Write one request line (a dict as JSON, a string as it is)."""
        self.proc.stdin.write((request if isinstance(request, str) else json.dumps(request)) + "\n")
        self.proc.stdin.flush()

    def next(self, timeout: float = 60) -> dict[str, Any]:
        """The next event of any job."""
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(
                f"no event from the worker within {timeout:g} s; its stderr: {self.log_tail()}"
            ) from None
        if event is None:
            raise WorkerDied(f"the worker died: {self.log_tail()}")
        return event

    def until_done(self, job_id: str, timeout: float = 120) -> list[dict[str, Any]]:
        """Every event of ``job_id`` up to and including its result or error (other jobs' events are dropped)."""
        seen = []
        while True:
            event = self.next(timeout)
            if event.get("id") == job_id:
                seen.append(event)
                if event["event"] in ANSWERS:
                    return seen

    def answers(self, count: int, timeout: float = 60, settle: float = 0.3) -> list[dict[str, Any]]:
        """The next ``count`` result/error events (progress skipped); then checks that no further answer arrives."""
        out = []
        while len(out) < count:
            event = self.next(timeout)
            if event["event"] in ANSWERS:
                out.append(event)
        time.sleep(settle)
        extra = [e for e in list(self.events.queue) if e is not None and e["event"] in ANSWERS]
        if extra:
            raise AssertionError(f"more answers than requests: {extra}")
        return out

    def alive_and_answering(self) -> None:
        """A ping gets its answer (raises otherwise)."""
        self.send({"id": "alive?", "op": "ping"})
        (answer,) = self.answers(1)
        if answer.get("id") != "alive?":
            raise AssertionError(f"ping answered by {answer}")

    def close(self, timeout: float = 30) -> int:
        """Ask the worker to shut down; its exit status (killed after ``timeout``)."""
        if self.proc.poll() is None:
            try:
                self.send({"op": "shutdown"})
                return self.proc.wait(timeout=timeout)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
        return self.proc.wait()
