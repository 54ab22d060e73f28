"""Jobs: the operations the engine offers, their registry, and progress/cancel plumbing.

An *op* is a function ``(params: dict, job: Job) -> dict``. The CLI and the worker
both run ops through :func:`run_op`; an op reports progress with ``job.progress``,
which raises :class:`Cancelled` once the caller has asked to cancel.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from .errors import BadInput, Cancelled, NotAvailable

OpFunc = Callable[[dict[str, Any], "Job"], dict[str, Any]]
OPS: dict[str, OpFunc] = {}
# modules that register ops when imported; a missing module means "not available yet"
OP_MODULES = ("engine.pose_ops", "engine.lips_ops", "engine.render_ops")
KNOWN_OPS = ("pose", "lips", "render", "animate")


class Job:
    """Progress reporting and cancellation for one running op."""

    def __init__(self, job_id: str = "", on_progress: Callable[[int, int, str], None] | None = None) -> None:
        self.id = job_id
        self._on_progress = on_progress
        self._cancel = threading.Event()

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

    def sub(self, start: float, end: float, total: int = 1000) -> Callable[[int, int, str], None]:
        """A progress callback mapping a sub-task's 0..1 onto ``[start, end]`` of ``total``."""

        def report(done: int, sub_total: int, message: str) -> None:
            frac = done / sub_total if sub_total else 1.0
            self.progress(int(round((start + (end - start) * min(1.0, frac)) * total)), total, message)

        return report


def register(name: str) -> Callable[[OpFunc], OpFunc]:
    """Decorator: register ``func`` as the op ``name``."""

    def wrap(func: OpFunc) -> OpFunc:
        OPS[name] = func
        return func

    return wrap


_loaded = False


def load_ops() -> dict[str, OpFunc]:
    """Import every op module once; returns the registry."""
    global _loaded
    if not _loaded:
        for module in OP_MODULES:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
        _loaded = True
    return OPS


def run_op(name: str, params: dict[str, Any], job: Job) -> dict[str, Any]:
    """Run op ``name``; unknown ops and ops not built yet raise clear errors."""
    ops = load_ops()
    if name not in ops:
        if name in KNOWN_OPS:
            raise NotAvailable(f"'{name}' is not available yet in this engine version")
        raise BadInput(f"unknown op: {name!r}")
    if not isinstance(params, dict):
        raise BadInput("params must be a JSON object")
    return ops[name](params, job)
