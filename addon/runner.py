"""Engine jobs inside Blender: one shared worker, one job at a time, blocking or drained by a modal timer.

``EngineJobOperator`` is the mixin every engine-backed operator uses: it builds a request, runs it (blocking in
background mode or when called from a script with ``execute``; modal with a timer when invoked from the UI, ESC
cancels), and changes the scene only when the engine's result arrives, so an error, a cancel or a crash of the
worker leaves the scene as it was.
"""

from __future__ import annotations

import json
import os
import queue
import time
from typing import Any

import bpy

from . import prefs
from .engine_client import EngineClient, EngineUnavailable
from .errors import UserError

READY_TIMEOUT = 300.0  # seconds to wait for the worker's ready line (first start loads torch)


class Job:
    """State of one engine job, shown by the panels."""

    def __init__(self, op: str, label: str) -> None:
        self.op = op
        self.label = label
        self.id: str | None = None
        self.done = 0
        self.total = 0
        self.message = "starting the engine"
        self.state = "running"  # running | done | error | cancelled
        self.result: dict[str, Any] | None = None
        self.error = ""
        self.started = time.monotonic()

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def finished(self) -> bool:
        return self.state != "running"


_client: EngineClient | None = None
current: Job | None = None


def client() -> EngineClient:
    """The shared worker client for the engine set in the preferences (recreated when they change)."""
    global _client
    python, root = prefs.engine_python(), prefs.engine_root()
    if _client is not None and (_client.python != python or _client.root != root):
        _client.stop()
        _client = None
    if _client is None:
        _client = EngineClient(python, root, os.path.join(prefs.cache_dir(), "engine.log"))
    return _client


def engine_running() -> bool:
    return _client is not None and _client.alive()


def default_backend() -> str | None:
    """The pose model the engine uses for "Default", as its ready event said; None until the engine has started."""
    hello = _client.hello if _client is not None else None
    return hello.get("default_backend") if hello else None


def busy() -> bool:
    return current is not None and not current.finished


def stop_engine() -> None:
    """Stop the worker (frees its memory); a running job ends as cancelled."""
    global _client
    if current is not None and not current.finished:
        current.state, current.error = "cancelled", "cancelled: the engine was stopped"
    if _client is not None:
        _client.stop()
        _client = None


def start(op: str, params: dict[str, Any], label: str) -> Job:
    """Submit a job to the worker (starting it if needed)."""
    global current
    if busy():
        raise UserError("a PoseTalk job is already running: wait for it or cancel it")
    job = Job(op, label)
    eng = client()
    job.id = eng.submit(op, params)  # raises EngineUnavailable
    current = job
    return job


def saved(op: str, path: str, params: dict[str, Any], label: str) -> Job:
    """A finished job whose result is a document the engine wrote earlier (``pose.json`` for ``pose``,
    ``lips.json`` for ``lips``: ``animate --pose-out/--lips-out``, a studio batch), for the operator to land with
    its own ``apply`` as if the engine had just made it. UserError when the file is not such a document or its
    frame rate is not the one the job would run at."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise UserError(f"file not found: {path}") from None
    except (OSError, ValueError, UnicodeDecodeError):
        raise UserError(f"cannot read {path} as a PoseTalk {op}.json") from None
    if not isinstance(doc, dict) or not str(doc.get("format", "")).startswith(f"posetalk.{op}/"):
        raise UserError(f"{path} is not a PoseTalk {op}.json")
    fps = params.get("fps")
    try:
        doc_fps = float(doc.get("fps"))
    except (TypeError, ValueError):
        raise UserError(f"{path} has no frame rate") from None
    if fps and abs(doc_fps - float(fps)) > 1e-3:
        raise UserError(f"{path} is at {doc_fps:g} fps, the scene at {float(fps):g} fps")
    job = Job(op, label)
    job.result, job.state = {op: doc}, "done"
    return job


def query(op: str, timeout: float = 60.0) -> dict[str, Any]:
    """A quick request that is not a job (``languages``, ``schema``): its result, waited for here.

    Refused while a job runs (its events share the worker's line); the engine starts when needed."""
    if busy():
        raise UserError("a PoseTalk job is running: wait for it")
    eng = client()
    job_id = eng.submit(op, {})  # raises EngineUnavailable
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = eng.events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if event.get("event") == "exit":
            raise UserError(f"the engine stopped unexpectedly (exit code {event.get('code')})")
        if event.get("id") == job_id and event.get("event") in ("result", "error"):
            if event["event"] == "error":
                raise UserError(str(event.get("message")))
            return event
    raise UserError(f"the engine did not answer within {timeout:.0f} s: {eng.log_tail()}")


def _handle(job: Job, event: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind == "exit":
        if not job.finished:
            job.state = "error"
            tail = event.get("message") or "no message"
            job.error = f"the engine stopped unexpectedly (exit code {event.get('code')}): {tail}"
        return
    if event.get("id") != job.id or job.finished:
        return
    if kind == "progress":
        job.done, job.total = int(event.get("done", 0)), int(event.get("total", 0))
        job.message = str(event.get("message", ""))
    elif kind == "result":
        job.result = {k: v for k, v in event.items() if k not in ("id", "event")}
        job.state = "done"
    elif kind == "error":
        job.state = "cancelled" if event.get("code") == "cancelled" else "error"
        job.error = str(event.get("message") or event.get("code") or "engine error")


def pump(job: Job, timeout: float = 0.0) -> bool:
    """Handle the worker's pending events for ``job``; True once it has finished."""
    eng = _client
    if eng is None:
        if not job.finished:
            job.state, job.error = "error", "the engine was stopped"
        return True
    deadline = time.monotonic() + timeout
    while not job.finished:
        wait = max(0.0, deadline - time.monotonic())
        try:
            event = eng.events.get(timeout=wait) if wait > 0 else eng.events.get_nowait()
        except queue.Empty:
            break
        _handle(job, event)
    if not job.finished and eng.hello is None and time.monotonic() - job.started > READY_TIMEOUT:
        job.state, job.error = "error", f"the engine did not start within {READY_TIMEOUT:.0f} s: {eng.log_tail()}"
    return job.finished


def cancel_job(job: Job | None = None) -> None:
    """Ask the worker to cancel ``job`` (default: the current one); the job ends as cancelled."""
    job = job or current
    if job is None or job.finished:
        return
    if _client is not None and job.id:
        _client.cancel(job.id)
    job.state, job.error = "cancelled", "cancelled"


def wait(job: Job) -> Job:
    """Block until the job finishes (background mode and scripts). Ctrl-C cancels it."""
    try:
        while not pump(job, timeout=0.2):
            pass
    except KeyboardInterrupt:
        cancel_job(job)
        raise
    return job


def tag_redraw() -> None:
    wm = bpy.context.window_manager
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "SEQUENCE_EDITOR", "PROPERTIES"}:
                area.tag_redraw()


class EngineJobOperator:
    """Mixin for operators backed by engine jobs.

    Subclasses define ``job_op`` (the worker op), ``build(context) -> params`` (raise UserError on bad input,
    change nothing) and ``apply(context, result)`` (the only place that changes the scene). One with a
    ``result_path`` option (operators.common.SavedResult) lands that saved result instead of running the engine. An operator that runs
    several jobs in a row (one per head, say) returns the next job's params from ``next_params`` after each
    ``apply``; one progress bar shows the job under way (``job_label``) and one cancel stops them all.
    """

    job_op = ""
    _job: Job | None = None
    _timer = None

    def build(self, context: bpy.types.Context) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, context: bpy.types.Context, result: dict[str, Any]) -> None:
        raise NotImplementedError

    def next_params(self, context: bpy.types.Context) -> dict[str, Any] | None:
        """The params of a further job, after ``apply`` (None: the operator is done)."""
        return None

    def job_label(self) -> str:
        return self.bl_label

    def _start(self, context: bpy.types.Context) -> bool:
        try:
            params = self.build(context)
            path = getattr(self, "result_path", "")
            if path:
                self._job = saved(self.job_op, bpy.path.abspath(path), params, self.job_label())
            else:
                self._job = start(self.job_op, params, self.job_label())
        except (UserError, EngineUnavailable) as exc:
            self.report({"ERROR"}, str(exc))
            return False
        return True

    def _after(self, context: bpy.types.Context) -> set[str] | None:
        """Handle a finished job: apply it and start the next one (None: a job runs again) or end the operator."""
        job = self._job
        if job.state == "done":
            try:
                self.apply(context, job.result or {})
                params = self.next_params(context)
                if params is not None:
                    self._job = start(self.job_op, params, self.job_label())
                    return None
            except (UserError, EngineUnavailable) as exc:
                job.state, job.error = "error", str(exc)
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
            return {"FINISHED"}
        if job.state == "cancelled":
            self.report({"WARNING"}, f"{self.bl_label}: {job.error or 'cancelled'}")
        else:
            self.report({"ERROR"}, f"{self.bl_label}: {job.error}")
        return {"CANCELLED"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        if not self._start(context):
            return {"CANCELLED"}
        while True:
            wait(self._job)
            done = self._after(context)
            if done is not None:
                return done

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        if not self._start(context):
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        tag_redraw()
        return {"RUNNING_MODAL"}

    def _end_modal(self, context: bpy.types.Context) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        tag_redraw()

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            cancel_job(job)
        if event.type == "TIMER" or job.finished:
            pump(job)
            tag_redraw()
            if job.finished:
                done = self._after(context)
                if done is not None:
                    self._end_modal(context)
                    return done
        return {"PASS_THROUGH"}

    def cancel(self, context: bpy.types.Context) -> None:  # Blender calls this when the modal is aborted
        cancel_job(self._job)
        self._end_modal(context)
