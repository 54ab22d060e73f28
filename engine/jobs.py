"""Jobs: the operations the engine offers, and the progress/cancel plumbing of one running op.

An *op* is a function ``(params: dict, job: Job) -> dict`` in one of the ``*_ops`` modules, listed in
:data:`OPS`; its parameters are those of ``engine.params.OPS``. The CLI and the worker both run ops through
:func:`run_op`; an op reports progress with ``job.progress``, which raises :class:`Cancelled` once the
caller has asked to cancel.
"""

from __future__ import annotations

import gc
import importlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .errors import BadInput, Cancelled
from .progress import Progress, scaled

OpFunc = Callable[[dict[str, Any], "Job"], dict[str, Any]]
# op name → "module:function"; the module is imported on the op's first use (torch loads only when needed)
OPS: dict[str, str] = {
    "pose": "engine.pose_ops:pose_op",
    "lips": "engine.lips_ops:lips_op",
    "render": "engine.render_ops:render_op",
    "animate": "engine.render_ops:animate_op",
    "capture": "engine.capture_ops:capture_op",
}


class _CollectionPause:
    """Counts the blocks that pause automatic garbage collection; the first turns it off, the last back on (if
    it was on before)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks = 0
        self._was_enabled = True

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            self._blocks += 1
            if self._blocks == 1:
                self._was_enabled = gc.isenabled()
                gc.disable()
        try:
            yield
        finally:
            with self._lock:
                self._blocks -= 1
                if self._blocks == 0 and self._was_enabled:
                    gc.enable()


collection_paused = _CollectionPause()
"""``with collection_paused():`` no automatic garbage collection inside the block (any thread). Loading libraries
and models creates objects by the million, and each full collection that sets off scans all of them while holding
the interpreter lock (0.1-0.3 s each): the worker's reader thread, which answers a cancel, would wait that long."""


class Job:
    """Progress reporting and cancellation for one running op (or a part of one: :meth:`child`)."""

    def __init__(
        self, job_id: str = "", on_progress: Progress | None = None, parent: Job | None = None, queued: bool = False
    ) -> None:
        self.id = job_id
        self._on_progress = on_progress
        self._cancel = threading.Event() if parent is None else parent._cancel
        self._root: Job = self if parent is None else parent._root
        self._state_lock = threading.Lock()
        self._queued = queued  # waiting for its turn (the worker's jobs run one at a time)
        self._preparing = 0  # nesting depth of preparing() blocks (on the root job)
        self.answered_early = False  # its cancel was answered at once: the job's own answer is dropped

    def start(self) -> bool:
        """Its turn has come: False when it was cancelled while queued (that cancel was answered already)."""
        with self._state_lock:
            self._queued = False
            return not self._cancel.is_set()

    def cancel(self) -> str:
        """Ask the job to stop; says who answers this cancel: ``"now"`` (the caller, at once: the job is queued, or
        preparing, i.e. loading models in native code that cannot stop, before any output; it stops as soon as the
        loading ends), ``"job"`` (the job itself, at its next cancellation point) or ``"again"`` (it was cancelled
        before: the caller answers this repeated request on its own)."""
        root = self._root
        with root._state_lock:
            if self._cancel.is_set():
                return "again"
            self._cancel.set()
            if root._queued or root._preparing:
                root.answered_early = True
                return "now"
            return "job"

    @contextmanager
    def preparing(self) -> Iterator[None]:
        """A block that loads models or libraries (torch, the weights, the face mesh): no cancellation point can
        sit inside native loading, so a cancel during it is answered at once and the block ends in Cancelled. Put
        only work before any output is written in it."""
        self.check()
        root = self._root
        with root._state_lock:
            root._preparing += 1
        try:
            with collection_paused():
                yield
        finally:
            with root._state_lock:
                root._preparing -= 1
        self.check()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise Cancelled if the caller asked to stop."""
        if self._cancel.is_set():
            raise Cancelled("cancelled")

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report ``done`` of ``total`` units; raises Cancelled when cancelled."""
        self.check()
        if self._on_progress is not None:
            self._on_progress(int(done), int(total), message)

    def sub(self, start: float, end: float, total: int = 1000) -> Progress:
        """A Progress mapping a sub-task's 0..1 onto ``[start, end]`` of ``total`` (a cancellation point too)."""
        return scaled(self.progress, start, end, total)

    def child(self, start: float, end: float) -> Job:
        """A job for a part of this one: its progress fills ``[start, end]`` of this job's bar, one cancel for both."""
        return Job(self.id, self.sub(start, end), parent=self)


def op_function(name: str) -> OpFunc:
    """The function of op ``name``; BadInput for an unknown op."""
    if name not in OPS:
        raise BadInput(f"unknown op: {name!r}")
    module, func = OPS[name].split(":")
    return getattr(importlib.import_module(module), func)


def run_op(name: str, params: dict[str, Any], job: Job) -> dict[str, Any]:
    """Run op ``name`` with ``params`` (checked by the op against engine.params)."""
    return op_function(name)(params, job)
