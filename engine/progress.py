"""The one progress type of the engine: ``progress(done, total, message)``.

Long work reports through it; the job behind it (engine.jobs) turns a cancel request into a
``Cancelled`` raised from the call, so every progress call is also a cancellation point.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, message: str) -> None:
    """A Progress that reports nothing."""
    return None


def scaled(progress: Progress, start: float, end: float, total: int = 1000) -> Progress:
    """A Progress mapping a sub-task's 0..1 onto ``[start, end]`` of ``total`` units of ``progress``."""

    def report(done: int, sub_total: int, message: str) -> None:
        frac = done / sub_total if sub_total else 1.0
        progress(int(round((start + (end - start) * min(1.0, frac)) * total)), total, message)

    return report
