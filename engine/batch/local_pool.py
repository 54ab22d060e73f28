"""The default batch workers: a pool of local processes, each keeping its models loaded between rows.

Each slot is one process started with multiprocessing's *spawn* context (a fresh interpreter: no forked torch
or mediapipe state) that runs :class:`~engine.batch.row_worker.RowWorker` and talks to the runner over its own
pipe, one row at a time. A process that dies (killed, out of memory, a crash in native code) is noticed by its
sentinel; its row comes back as a crash, to be tried again, and the slot gets a fresh process.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
from dataclasses import dataclass
from typing import Any

from ..errors import EngineError
from .pool import WORKER_MEMORY_MB, PoolEvent
from .row_worker import RowWorker, limit_threads

JOIN_SECONDS = 10.0  # a worker asked to stop gets this long before it is killed


def _serve(conn: multiprocessing.connection.Connection, threads: int, log: str | None) -> None:
    """A worker process: rows in, results out, until told to stop or the runner is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle; it stops the workers
    if log is not None:  # what libraries print (and tracebacks of engine faults) goes to the log, not the terminal
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    limit_threads(threads)
    worker = RowWorker()
    try:
        while True:
            try:
                task = conn.recv()
            except (EOFError, OSError):
                return
            if task is None:
                return
            conn.send(worker.run(task))
    finally:
        worker.close()


def exit_reason(code: int | None) -> str:
    """A worker's exit code in words."""
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


@dataclass
class _Slot:
    process: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    task_id: str | None = None
    answered: int = 0  # rows this process answered


class LocalPool:
    """``workers`` processes on this machine, ``threads`` CPU threads each; their output goes to ``log``."""

    kind = "local"

    def __init__(self, workers: int, threads: int, log: str | None = None) -> None:
        self.workers = workers
        self.threads = threads
        self.log = log
        self._ctx = multiprocessing.get_context("spawn")
        self._slots: list[_Slot | None] = [None] * workers
        self.started = 0  # processes started, replacements included
        self._early_deaths = 0  # processes in a row that died before answering any row

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": self.workers, "threads_per_worker": self.threads,
                "host": socket.gethostname(), "processes_started": self.started}  # fmt: skip

    def _replace(self, index: int, s: _Slot) -> None:
        """A fresh process for a slot whose process died; a pool whose processes cannot even start gives up."""
        s.conn.close()
        if s.answered == 0:
            self._early_deaths += 1
            if self._early_deaths > 2 * self.workers + 2:
                raise EngineError(
                    f"the worker processes die before running a row ({exit_reason(s.process.exitcode)}); "
                    f"see {self.log or 'their output'}"
                )
        self._spawn(index)

    def _spawn(self, index: int) -> None:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_serve, args=(child, self.threads, self.log),
                                    name=f"posetalk-batch-{index}", daemon=True)  # fmt: skip
        process.start()
        child.close()
        self._slots[index] = _Slot(process, parent)
        self.started += 1

    def start(self) -> None:
        for i in range(self.workers):
            self._spawn(i)

    def idle_slots(self) -> list[int]:
        """The slots ready for a row (an idle process that died is replaced first)."""
        idle = []
        for i, s in enumerate(self._slots):
            if s is not None and s.task_id is None:
                if not s.process.is_alive():
                    s.process.join(timeout=JOIN_SECONDS)
                    self._replace(i, s)
                idle.append(i)
        return idle

    def busy(self) -> int:
        return sum(1 for s in self._slots if s is not None and s.task_id is not None)

    def submit(self, slot: int, task: dict[str, Any]) -> dict[str, Any]:
        """Send ``task`` to the idle ``slot``; returns where it runs."""
        s = self._slots[slot]
        assert s is not None and s.task_id is None
        s.task_id = task["id"]
        try:
            s.conn.send(task)
        except (BrokenPipeError, OSError):
            pass  # the process is gone: wait() reports the crash
        return {"pid": s.process.pid, "host": socket.gethostname()}

    def _lost(self, index: int, s: _Slot) -> PoolEvent:
        s.process.join(timeout=JOIN_SECONDS)
        if s.process.is_alive():
            s.process.kill()
            s.process.join(timeout=JOIN_SECONDS)
        event = PoolEvent(s.task_id or "", crash=f"worker process {s.process.pid} {exit_reason(s.process.exitcode)}")
        self._replace(index, s)
        return event

    def wait(self, timeout: float) -> list[PoolEvent]:
        """The rows that ended within ``timeout`` seconds (results and crashes)."""
        busy = [(i, s) for i, s in enumerate(self._slots) if s is not None and s.task_id is not None]
        if not busy:
            return []
        handles: list[Any] = [s.conn for _, s in busy] + [s.process.sentinel for _, s in busy]
        ready = set(multiprocessing.connection.wait(handles, timeout))
        events = []
        for i, s in busy:
            if s.conn not in ready and s.process.sentinel not in ready:
                continue
            if s.conn.poll():
                try:
                    result = s.conn.recv()
                except (EOFError, OSError):
                    events.append(self._lost(i, s))
                    continue
                events.append(PoolEvent(s.task_id or "", result=result))
                s.task_id = None
                s.answered += 1
                self._early_deaths = 0
                if not s.process.is_alive():  # answered, then died: a fresh process for the next row
                    s.process.join(timeout=JOIN_SECONDS)
                    self._replace(i, s)
            else:
                events.append(self._lost(i, s))
        return events

    def close(self) -> None:
        """Stop every worker (at once when they are busy: the runner has given up on their rows)."""
        for s in self._slots:
            if s is None:
                continue
            try:
                if s.task_id is None:
                    s.conn.send(None)
                else:
                    s.process.terminate()
            except (BrokenPipeError, OSError):
                pass
        for s in self._slots:
            if s is None:
                continue
            s.process.join(timeout=JOIN_SECONDS)
            if s.process.is_alive():
                s.process.kill()
                s.process.join(timeout=JOIN_SECONDS)
            s.conn.close()
        self._slots = [None] * self.workers


def cpu_cores() -> int:
    """The CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def available_memory_mb() -> float | None:
    """Memory available for new processes (Linux), in MB; None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def default_workers() -> int:
    """The default number of local workers: the CPU cores, fewer when memory would not hold that many."""
    cores = cpu_cores()
    memory = available_memory_mb()
    return cores if memory is None else max(1, min(cores, int(memory // WORKER_MEMORY_MB)))
