"""What the batch runner asks of a pool of workers (local processes or Ray actors), and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

WORKER_MEMORY_MB = 1500  # what one worker may need at its peak (512² frames; scripts/bench_batch.py measures it)


@dataclass
class PoolEvent:
    """A row's end in a pool: the worker's result, or why its worker was lost (then the row may be tried again)."""

    task_id: str
    result: dict[str, Any] | None = None
    crash: str | None = None


class Pool(Protocol):
    """Slots that run one row at a time each."""

    kind: str

    def start(self) -> None: ...

    def idle_slots(self) -> list[int]: ...

    def busy(self) -> int: ...

    def submit(self, slot: int, task: dict[str, Any]) -> dict[str, Any]:
        """Start ``task`` on the idle ``slot``; returns where it runs (pid, host, node)."""
        ...

    def wait(self, timeout: float) -> list[PoolEvent]:
        """The rows that ended within ``timeout`` seconds."""
        ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...
