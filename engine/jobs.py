"""Jobs: the operations the engine offers, and the progress/cancel plumbing of one running op.

An *op* is a function ``(params: dict, job: Job) -> dict`` in one of the ``*_ops`` modules, listed in
:data:`OPS`; its parameters are those of ``engine.params.OPS``. The CLI and the worker both run ops through
:func:`run_op`; an op reports progress with ``job.progress``, which raises :class:`Cancelled` once the
caller has asked to cancel.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
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


class Job:
    """Progress reporting and cancellation for one running op (or a part of one: :meth:`child`)."""

    def __init__(self, job_id: str = "", on_progress: Progress | None = None, parent: Job | None = None) -> None:
        self.id = job_id
        self._on_progress = on_progress
        self._cancel = threading.Event() if parent is None else parent._cancel

    def cancel(self) -> None:
        self._cancel.set()

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
