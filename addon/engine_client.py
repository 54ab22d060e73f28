"""The engine worker process seen from Blender: start once, send JSON-lines requests, read replies on a thread.

Only the standard library is used here. Replies are parsed on a reader thread and put on a queue, so the
main thread never blocks on the pipe. A worker that dies is reported as an ``exit`` event, never raised in
Blender's face.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import threading
from typing import Any


class EngineUnavailable(Exception):
    """The engine cannot be started: the message says what to do."""


def check_engine(python: str, root: str) -> str | None:
    """A one-line reason why the engine at (python, root) cannot run, or None if it looks set up."""
    if not python:
        return "engine not set up: set the engine Python in Preferences > Add-ons > PoseTalk"
    if not os.path.isfile(python):
        return f"engine Python not found: {python} (run `make setup` in the project or fix it in the preferences)"
    if not root or not os.path.isfile(os.path.join(root, "engine", "__init__.py")):
        return f"engine folder not found: {root!r} has no engine/ package (set the engine folder in the preferences)"
    return None


class EngineClient:
    """One long-lived ``python -m engine serve`` process."""

    def __init__(self, python: str, root: str, log_path: str) -> None:
        self.python = python
        self.root = root
        self.log_path = log_path
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.hello: dict[str, Any] | None = None
        self._proc: subprocess.Popen | None = None
        self._log = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # process ---------------------------------------------------------------------------------------------------
    def start(self) -> None:
        reason = check_engine(self.python, self.root)
        if reason:
            raise EngineUnavailable(reason)
        env = dict(os.environ)
        env["PYTHONPATH"] = self.root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["HF_HUB_OFFLINE"] = "1"
        env["TRANSFORMERS_OFFLINE"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        for key in ("PYTHONHOME", "PYTHONSTARTUP"):  # Blender's own Python must not leak into the engine's
            env.pop(key, None)
        os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
        self._log = open(self.log_path, "w", encoding="utf-8", errors="replace")  # noqa: SIM115 (lives with proc)
        try:
            self._proc = subprocess.Popen(
                [self.python, "-m", "engine", "serve"],
                cwd=self.root,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
            )
        except OSError as exc:
            self._log.close()
            self._log = None
            raise EngineUnavailable(f"cannot start the engine ({self.python}): {exc.strerror or exc}") from None
        self.events = queue.Queue()  # a fresh queue per process: nothing stale from a previous one
        self.hello = None
        reader = threading.Thread(
            target=self._read, args=(self._proc, self.events), name="posetalk-engine", daemon=True
        )
        reader.start()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _read(self, proc: subprocess.Popen, events: queue.Queue) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not protocol: ignore
            if isinstance(event, dict):
                if event.get("event") == "ready":
                    self.hello = event
                events.put(event)
        code = proc.wait()
        events.put({"event": "exit", "code": code, "message": self.log_tail()})

    def log_tail(self, lines: int = 3) -> str:
        """The last meaningful lines of the engine's stderr log, joined on one line."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                text = [ln.strip() for ln in fh.read()[-20000:].splitlines() if ln.strip()]
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    # protocol --------------------------------------------------------------------------------------------------
    def _send(self, request: dict[str, Any]) -> None:
        if self._proc is None:
            raise EngineUnavailable("the engine is not running")
        with self._lock:
            try:
                if self._proc.poll() is not None:
                    raise OSError("the engine process has exited")
                self._proc.stdin.write(json.dumps(request) + "\n")
                self._proc.stdin.flush()
            except (OSError, ValueError) as exc:
                try:
                    code = self._proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    code = "?"
                tail = self.log_tail() or exc
                raise EngineUnavailable(f"the engine stopped unexpectedly (exit code {code}): {tail}") from None

    def submit(self, op: str, params: dict[str, Any]) -> str:
        """Queue a job; returns its id. Starts the process if needed."""
        if not self.alive():
            self.start()
        job_id = f"b{next(self._ids)}"
        self._send({"id": job_id, "op": op, "params": params})
        return job_id

    def cancel(self, job_id: str) -> None:
        if self.alive():
            try:
                self._send({"op": "cancel", "id": job_id})
            except EngineUnavailable:
                pass

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to exit, kill it if it does not; frees its memory."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                with self._lock:
                    proc.stdin.write(json.dumps({"op": "shutdown"}) + "\n")
                    proc.stdin.flush()
                    proc.stdin.close()
            except (OSError, ValueError):
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._proc = None
