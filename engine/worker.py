"""The JSON-lines worker: ``python -m engine serve`` (docs/architecture.md, "The worker protocol").

One long-lived process keeps models loaded. Requests arrive on stdin, one JSON
object per line: ``{"id", "op", "params"}``; ``{"op": "cancel", "id"}`` cancels a
queued or running job; ``{"op": "ping"}``, ``{"op": "schema"}`` (every op's parameters, engine.params) and
``{"op": "languages"}`` (the language codes of transcripts) answer at once; ``{"op": "shutdown"}``
ends the process (so does the end of stdin). Replies go to stdout, one per line:
``{"id", "event": "progress", "done", "total", "message"}`` then exactly one
``{"id", "event": "result", ...}`` or ``{"id", "event": "error", "code", "message"}``: every request line gets
exactly one result or error (a cancel that finds no job, too; ``shutdown`` answers before the process ends).
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
import warnings
from typing import Any, TextIO

from . import __version__
from .errors import EngineError
from .jobs import OPS, Job, collection_paused, run_op
from .params import schema

PROGRESS_INTERVAL = 0.1  # seconds between progress events of one job
MAX_REQUEST_CHARS = 64 * 1024 * 1024  # a longer request line is refused (pins of hours of video fit easily)


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
            if job is None or not job.start():  # cancelled while queued: that cancel was answered
                self._finish(job_id)
                continue
            try:
                answer = {"event": "result", **run_op(op, params, job)}
            except EngineError as exc:
                answer = {"event": "error", "code": exc.code, "message": exc.message}
            except MemoryError:
                answer = {"event": "error", "code": "engine_error", "message": "out of memory"}
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                message = f"internal engine error: {type(exc).__name__}: {exc}"
                answer = {"event": "error", "code": "engine_error", "message": message}
            finally:
                self._finish(job_id)
            if not job.answered_early:  # else its cancel was answered while it was loading models
                self.send({"id": job_id, **answer})

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

    def _send_cancelled(self, job_id: str) -> None:
        self.send({"id": job_id, "event": "error", "code": "cancelled", "message": "cancelled"})

    def error(self, job_id: str | None, code: str, message: str) -> None:
        self.send({"id": job_id, "event": "error", "code": code, "message": message})

    def handle(self, line: str) -> bool:
        """Answer one request line (exactly one result or error event, now or when its job ends); False means
        stop serving."""
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request must be a JSON object")
        except ValueError as exc:
            self.error(None, "bad_request", f"not a JSON request: {str(exc)[:200]}")
            return True
        op, job_id = request.get("op"), request.get("id")
        if job_id is not None and (isinstance(job_id, bool) or not isinstance(job_id, (str, int))):
            self.error(None, "bad_request", "a request's id must be a string or a whole number")
            return True
        job_id = None if job_id is None else str(job_id)
        if op == "shutdown":
            self.send({"id": job_id, "event": "result", "shutdown": True})
            return False
        if op == "ping":
            self.send({"id": job_id, "event": "result", **self.hello()})
        elif op == "schema":
            self.send({"id": job_id, "event": "result", "ops": schema()})
        elif op == "languages":
            self.send({"id": job_id, "event": "result", "languages": _languages()})
        elif op == "cancel":
            self._cancel(job_id)
        elif not job_id:
            self.error(None, "bad_request", "a request needs an id")
        elif not isinstance(op, str) or op not in OPS:
            self.error(job_id, "bad_request", f"unknown op: {str(op)[:100]!r}")
        else:
            self._submit(job_id, op, request.get("params"))
        return True

    def _cancel(self, job_id: str | None) -> None:
        """Cancel a queued or running job: the job itself answers (code ``cancelled``). A cancel that finds no
        such job (never sent, already finished, or no id) is answered here."""
        if not job_id:
            self.error(None, "bad_request", "cancel needs the id of the job to cancel")
            return
        with self._pending_lock:
            job = self._pending.get(job_id)
        if job is None:
            self.error(job_id, "bad_request", f"no queued or running job with id {job_id!r} to cancel")
        else:
            who = job.cancel()
            if who == "now":  # queued, or loading models and unable to stop this second
                self._send_cancelled(job_id)
            elif who == "again":
                self.error(job_id, "bad_request", f"job {job_id!r} is already being cancelled")

    def _submit(self, job_id: str, op: str, params: Any) -> None:
        with self._pending_lock:
            if job_id in self._pending:
                self.error(job_id, "bad_request", "id already in use by a queued or running job")
                return
            self._pending[job_id] = Job(job_id, self._progress_sender(job_id), queued=True)
        self._queue.put((job_id, op, {} if params is None else params))

    def serve(self, lines: TextIO) -> None:
        self._thread.start()
        self.send({"event": "ready", **self.hello()})
        threading.Thread(target=_import_torch, name="import-torch", daemon=True).start()
        try:
            while True:
                line = lines.readline(MAX_REQUEST_CHARS + 1)
                if not line:
                    break  # end of stdin
                if len(line) > MAX_REQUEST_CHARS and not line.endswith("\n"):
                    while line and not line.endswith("\n"):  # skip the rest of the over-long line
                        line = lines.readline(MAX_REQUEST_CHARS)
                    self.error(None, "bad_request", f"request longer than {MAX_REQUEST_CHARS} characters")
                    continue
                if line.strip() and not self.handle(line):
                    break
        finally:
            with self._pending_lock:
                pending = list(self._pending.items())
            for job_id, job in pending:  # a queued or loading job is answered now, a running one answers itself
                if job.cancel() == "now":
                    self._send_cancelled(job_id)
            self._queue.put(None)
            self._thread.join(timeout=10)


def _import_torch() -> None:
    """Import torch once the worker is ready, before a job needs it: its C extension holds the interpreter lock
    for about a second while it loads, and a cancel read meanwhile would wait that long to be answered."""
    with collection_paused():
        import torch  # noqa: F401, PLC0415


def _languages() -> list[str]:
    """The language codes of transcripts (espeak-ng's), for the add-on's Language menu."""
    from .espeak import languages  # noqa: PLC0415

    return sorted(languages())


def serve() -> int:
    """Run the worker on this process's stdin/stdout."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not os.environ.get("POSETALK_DEBUG"):
        warnings.simplefilter("ignore")  # library warnings are not the user's business; the log has errors
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints (also from C code) go to stderr
    sys.stdout = sys.stderr
    stdin = open(sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False)
    Worker(protocol).serve(stdin)
    return 0
