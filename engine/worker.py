"""The JSON-lines worker: ``python -m engine serve`` (docs/architecture.md, "The worker protocol").

One long-lived process keeps models loaded. Requests arrive on stdin, one JSON
object per line: ``{"id", "op", "params"}``; ``{"op": "cancel", "id"}`` cancels a
queued or running job; ``{"op": "ping"}`` and ``{"op": "schema"}`` (every op's parameters, engine.params)
answer at once; ``{"op": "shutdown"}``
ends the process (so does the end of stdin). Replies go to stdout, one per line:
``{"id", "event": "progress", "done", "total", "message"}`` then exactly one
``{"id", "event": "result", ...}`` or ``{"id", "event": "error", "code", "message"}``.
Jobs run one at a time, in order. Anything a library prints goes to stderr, so
stdout carries protocol lines only.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
import traceback
from typing import Any, TextIO

from . import __version__
from .errors import EngineError
from .jobs import OPS, Job, run_op
from .params import schema

PROGRESS_INTERVAL = 0.1  # seconds between progress events of one job


class Worker:
    """Reads requests, runs jobs on one thread, writes events."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._write_lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, str, dict[str, Any]] | None] = queue.Queue()
        self._pending: dict[str, Job] = {}
        self._pending_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run_jobs, name="posetalk-jobs", daemon=True)

    def send(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, separators=(",", ":"), allow_nan=False)
        with self._write_lock:
            self._out.write(line + "\n")
            self._out.flush()

    def hello(self) -> dict[str, Any]:
        from .backends import DEFAULT_BACKEND, available

        return {"version": __version__, "ops": sorted(OPS), "backends": available(), "default_backend": DEFAULT_BACKEND}

    def _run_jobs(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job_id, op, params = item
            with self._pending_lock:
                job = self._pending.get(job_id)
            if job is None or job.cancelled:
                self._finish(job_id)
                if job is not None:
                    self.send({"id": job_id, "event": "error", "code": "cancelled", "message": "cancelled"})
                continue
            try:
                result = run_op(op, params, job)
                self.send({"id": job_id, "event": "result", **result})
            except EngineError as exc:
                self.send({"id": job_id, "event": "error", "code": exc.code, "message": exc.message})
            except MemoryError:
                self.send({"id": job_id, "event": "error", "code": "engine_error", "message": "out of memory"})
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                message = f"internal engine error: {type(exc).__name__}: {exc}"
                self.send({"id": job_id, "event": "error", "code": "engine_error", "message": message})
            finally:
                self._finish(job_id)

    def _finish(self, job_id: str) -> None:
        with self._pending_lock:
            self._pending.pop(job_id, None)

    def _progress_sender(self, job_id: str):
        last = [0.0]

        def report(done: int, total: int, message: str) -> None:
            now = time.monotonic()
            if done < total and now - last[0] < PROGRESS_INTERVAL:
                return
            last[0] = now
            self.send({"id": job_id, "event": "progress", "done": done, "total": total, "message": message})

        return report

    def handle(self, line: str) -> bool:
        """Handle one request line; False means stop serving."""
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request must be a JSON object")
        except ValueError as exc:
            self.send({"id": None, "event": "error", "code": "bad_request", "message": f"not a JSON request: {exc}"})
            return True
        op = request.get("op")
        job_id = request.get("id")
        job_id = None if job_id is None else str(job_id)
        if op == "shutdown":
            return False
        if op == "cancel":
            with self._pending_lock:
                job = self._pending.get(job_id or "")
            if job is not None:
                job.cancel()
            return True
        if op == "ping":
            self.send({"id": job_id, "event": "result", **self.hello()})
            return True
        if op == "schema":
            self.send({"id": job_id, "event": "result", "ops": schema()})
            return True
        if not job_id:
            self.send({"id": None, "event": "error", "code": "bad_request", "message": "a request needs an id"})
            return True
        if not isinstance(op, str) or op not in OPS:
            self.send({"id": job_id, "event": "error", "code": "bad_request", "message": f"unknown op: {op!r}"})
            return True
        params = request.get("params") or {}
        with self._pending_lock:
            if job_id in self._pending:
                self.send({"id": job_id, "event": "error", "code": "bad_request", "message": "id already in use"})
                return True
            self._pending[job_id] = Job(job_id, self._progress_sender(job_id))
        self._queue.put((job_id, op, params))
        return True

    def serve(self, lines: TextIO) -> None:
        self._thread.start()
        self.send({"event": "ready", **self.hello()})
        try:
            for line in lines:
                if line.strip() and not self.handle(line):
                    break
        finally:
            with self._pending_lock:
                for job in self._pending.values():
                    job.cancel()
            self._queue.put(None)
            self._thread.join(timeout=10)


def serve() -> int:
    """Run the worker on this process's stdin/stdout."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints (also from C code) go to stderr
    sys.stdout = sys.stderr
    stdin = open(sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False)
    Worker(protocol).serve(stdin)
    return 0
