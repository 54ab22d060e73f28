"""``python -m engine batch MANIFEST --out DIR``: plan the rows against the ledger, run them, report.

The plan reads the manifest and the ledger (nothing is run for a malformed manifest: exit 2) and splits the rows
into those done and unchanged (skipped), those that failed on bad input and have not changed (skipped, still
failed, unless ``--retry-failed``) and those to run. The runner hands rows to a pool (local processes, or Ray
actors), and for each result renames the outputs from the row's staging folder to ``<id>.mp4``,
``<id>.pose.json`` and ``<id>.lips.json`` (whole files only: a killed run leaves no half file), then appends
``done`` to the ledger. A row whose worker was lost is tried again (``--retries``); a row that fails does so
alone, with the engine's one-line reason. At the end: ``report.json`` and a table of the failures.
Exit status: 0 when every row is done, 1 when some failed, 2 for a bad manifest or bad options, 130 when
interrupted.
"""

from __future__ import annotations

import collections
import fcntl
import glob
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from .. import __version__
from ..errors import BadInput, EngineError
from ..formats import write_json_atomic
from ..params import check
from .ledger import FileDigests, Ledger, LedgerState, path_params, row_key
from .local_pool import LocalPool, cpu_cores, default_workers
from .manifest import Row, read_manifest
from .pool import Pool, PoolEvent
from .progress import BatchProgress, failure_table
from .steps import BLEND_STEPS, DEFAULT_STEPS, blender_command, outputs_of

REPORT_NAME = "report.json"
LOG_NAME = "workers.log"  # what the local workers print (library messages, tracebacks of engine faults)
STAGING_DIR = ".partial"  # <run>/<id>.<attempt>: the rows' staging folders; removed at the start and the end
LOCK_NAME = ".batch.lock"
MARKER_NAME = "run-token"
WAIT_SECONDS = 0.5


@dataclass
class Item:
    """A row to run: its key, its inputs' hashes, why it runs, and its attempts in this run."""

    row: Row
    key: str
    inputs: dict[str, dict[str, Any] | None]
    why: str
    attempts: int = 0
    crashes: list[str] = field(default_factory=list)
    last_slot: int | None = None


@dataclass
class Plan:
    """What a run will do."""

    rows: list[Row]
    todo: list[Item]
    done: list[Row]
    failed: list[tuple[Row, dict[str, Any]]]
    seconds: float
    hashed_files: int
    ledger_records: int
    cpu_seconds: float = 0.0  # this process's CPU time for it (on a busy machine closer to the idle wall time)

    def summary(self) -> dict[str, Any]:
        why = collections.Counter(item.why for item in self.todo)
        return {"rows": len(self.rows), "todo": len(self.todo), "skipped_done": len(self.done),
                "skipped_failed": len(self.failed), "why": dict(why), "plan_seconds": round(self.seconds, 3),
                "plan_cpu_seconds": round(self.cpu_seconds, 3),
                "hashed_files": self.hashed_files, "ledger_records": self.ledger_records}  # fmt: skip


def _output_files(out: str) -> dict[str, os.DirEntry[str]]:
    """The files in the output folder, listed once (a plan checks thousands of them)."""
    try:
        with os.scandir(out) as entries:
            return {entry.name: entry for entry in entries}
    except OSError:
        return {}


def _outputs_intact(files: dict[str, os.DirEntry[str]], row_id: str, record: dict[str, Any],
                    outputs: tuple[str, ...]) -> bool:  # fmt: skip
    sizes = record.get("outputs") or {}
    for suffix in outputs:
        entry = files.get(row_id + suffix)
        try:
            if entry is None or entry.stat().st_size != sizes.get(suffix):
                return False
        except OSError:
            return False
    return True


def make_plan(rows: list[Row], out: str, state: LedgerState, outputs: tuple[str, ...], retry_failed: bool) -> Plan:
    """Rows → skipped (done and unchanged; failed on bad input and unchanged) and to run, with the reason."""
    started = time.monotonic()
    digests = FileDigests(state.known_files)
    names = path_params()
    files = _output_files(out)
    todo: list[Item] = []
    done: list[Row] = []
    failed: list[tuple[Row, dict[str, Any]]] = []
    for row in rows:
        inputs = {name: digests.entry(row.params[name]) for name in names if name in row.params}
        key = row_key(row.params, inputs, outputs)
        last = state.last.get(row.id)
        if last is None:
            why = "new"
        elif last.get("key") != key:
            why = "changed"
        elif last["state"] == "done":
            if _outputs_intact(files, row.id, last, outputs):
                done.append(row)
                continue
            why = "outputs missing or changed"
        elif last["state"] == "failed":
            if last.get("code") == "bad_input" and not retry_failed:
                failed.append((row, last))
                continue
            why = "failed before"
        else:
            why = "interrupted"
        todo.append(Item(row, key, inputs, why))
    return Plan(rows, todo, done, failed, time.monotonic() - started, digests.hashed, state.records)


def _prepare_out(out: str) -> str:
    out = os.path.abspath(os.fspath(out))
    if os.path.exists(out) and not os.path.isdir(out):
        raise BadInput(f"--out is not a folder: {out}")
    if not os.path.isdir(out):
        parent = os.path.dirname(out)
        if not os.path.isdir(parent):
            raise BadInput(f"the output folder's parent does not exist: {parent}")
        try:
            os.mkdir(out)
        except OSError as exc:
            raise BadInput(f"cannot create the output folder {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise BadInput(f"the output folder is not writable: {out}")
    return out


@contextmanager
def _locked(out: str) -> Iterator[None]:
    """One batch at a time per output folder."""
    path = os.path.join(out, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise BadInput(f"another batch run is writing to {out} (process {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}@{socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


@contextmanager
def _progress_stream(json_lines: bool) -> Iterator[TextIO]:
    """Where progress goes. With ``--json-progress`` stdout carries JSON lines only: anything else written to it
    (by Ray, a library, a worker process, which inherit it) goes to stderr for the run."""
    if not json_lines:
        yield sys.stdout
        return
    sys.stdout.flush()
    saved = os.dup(1)
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    previous, sys.stdout = sys.stdout, sys.stderr
    try:
        yield protocol
    finally:
        protocol.flush()
        sys.stdout = previous
        os.dup2(saved, 1)
        os.close(saved)
        protocol.close()


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a scheduler stopping the job) ends the run like Ctrl-C: workers stopped, ledger consistent."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class BatchRun:
    """One run of a planned batch on a pool."""

    def __init__(self, out: str, plan: Plan, pool: Pool, ledger: Ledger, progress: BatchProgress, retries: int,
                 steps: tuple[str, ...], blender: str | None = None) -> None:  # fmt: skip
        self.out = out
        self.plan = plan
        self.pool = pool
        self.ledger = ledger
        self.progress = progress
        self.retries = retries
        self.steps = steps
        self.blender = blender
        self.outputs = outputs_of(steps)
        self.run_id = secrets.token_hex(6)
        self.staging_root = os.path.join(out, STAGING_DIR)
        self.staging = os.path.join(self.staging_root, self.run_id)  # a killed run's late workers write elsewhere
        self.marker = {"path": os.path.join(self.staging, MARKER_NAME), "token": secrets.token_hex(16)}
        self.queue: collections.deque[Item] = collections.deque(plan.todo)
        self.running: dict[str, Item] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.worker_memory: dict[str, float] = {}

    def _task(self, item: Item) -> dict[str, Any]:
        row = item.row
        files = {name: {"path": e["path"], "sha256": e["sha256"], "size": e["size"]}
                 for name, e in item.inputs.items() if e is not None}  # fmt: skip
        return {"id": row.id, "params": row.params, "steps": list(self.steps), "outputs": list(self.outputs),
                "staging": os.path.join(self.staging, f"{row.id}.{item.attempts}"), "marker": self.marker,
                "files": files, "blender": self.blender}  # fmt: skip

    def _record(self, item: Item, state: str, sync: bool = False, **fields: Any) -> None:
        self.ledger.append({"run": self.run_id, "id": item.row.id, "state": state, "key": item.key,
                            "attempt": item.attempts, **fields}, sync=sync)  # fmt: skip

    def _dispatch(self) -> None:
        idle = self.pool.idle_slots()
        while idle and self.queue:
            item = self.queue.popleft()
            others = [s for s in idle if s != item.last_slot]  # a retried row goes to another worker when it can
            slot = (others or idle)[0]
            idle.remove(slot)
            item.attempts += 1
            item.last_slot = slot
            worker = self.pool.submit(slot, self._task(item))
            self.running[item.row.id] = item
            self._record(item, "started", worker=worker)
            self.progress.row_started(item.row.id, item.attempts, worker)

    def _commit(self, item: Item, result: dict[str, Any]) -> dict[str, int]:
        """Move the row's outputs into place, each whole (rename); returns their sizes."""
        sizes: dict[str, int] = {}
        staging = os.path.join(self.staging, f"{item.row.id}.{item.attempts}")
        os.makedirs(staging, exist_ok=True)
        for suffix in self.outputs:
            final = os.path.join(self.out, item.row.id + suffix)
            source = result["outputs"][suffix]
            if not result.get("staged"):  # bytes from a node that does not see this folder
                data, source = source, os.path.join(staging, f".received{suffix}")
                with open(source, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            os.chmod(source, 0o644)
            os.replace(source, final)
            sizes[suffix] = os.path.getsize(final)
        shutil.rmtree(staging, ignore_errors=True)
        return sizes

    def _handle(self, event: PoolEvent) -> None:
        item = self.running.pop(event.task_id)
        row_id = item.row.id
        inputs = item.inputs
        if event.crash is not None:
            item.crashes.append(event.crash)
            self._record(item, "crashed", reason=event.crash)
            shutil.rmtree(os.path.join(self.staging, f"{row_id}.{item.attempts}"), ignore_errors=True)
            if len(item.crashes) <= self.retries:
                self.progress.row_retry(row_id, event.crash, item.attempts)
                self.queue.appendleft(item)
                return
            reason = f"its worker was lost {len(item.crashes)} times; last: {event.crash}"
            self._fail(item, "worker_lost", reason, inputs)
            return
        result = event.result or {}
        if "pid" in result and "peak_rss_mb" in result:
            self.worker_memory[str(result["pid"])] = result["peak_rss_mb"]
        if result.get("status") == "done":
            try:
                sizes = self._commit(item, result)
            except OSError as exc:  # the output folder itself fails (full, gone, read-only): no row can finish
                raise EngineError(f"cannot write the outputs of {row_id} to {self.out}: {exc.strerror}") from None
            self._record(item, "done", sync=True, outputs=sizes, inputs=inputs, seconds=result["seconds"],
                         **result.get("info", {}))  # fmt: skip
            self.results[row_id] = {"status": "done", "seconds": result["seconds"], "attempts": item.attempts}
            self.progress.row_done(row_id, result["seconds"], item.attempts)
            return
        shutil.rmtree(os.path.join(self.staging, f"{row_id}.{item.attempts}"), ignore_errors=True)
        self._fail(item, result.get("code", "engine_error"), result.get("reason", "unknown failure"), inputs)

    def _fail(self, item: Item, code: str, reason: str, inputs: dict[str, Any]) -> None:
        self._record(item, "failed", sync=True, code=code, reason=reason, inputs=inputs)
        self.results[item.row.id] = {"status": "failed", "code": code, "reason": reason, "attempts": item.attempts}
        self.progress.row_failed(item.row.id, code, reason, item.attempts)

    def run(self) -> None:
        shutil.rmtree(self.staging_root, ignore_errors=True)  # what a killed run left: never a finished output
        os.makedirs(self.staging)
        with open(self.marker["path"], "w", encoding="utf-8") as fh:
            fh.write(self.marker["token"])
        try:
            if self.queue:
                self.pool.start()
            while self.queue or self.running:
                self._dispatch()
                for event in self.pool.wait(WAIT_SECONDS):
                    self._handle(event)
        finally:
            interrupted = list(self.running.values())
            self.pool.close()
            for item in interrupted:
                self._record(item, "interrupted")
            self.ledger.close()
            shutil.rmtree(self.staging_root, ignore_errors=True)


def _clean_stale_temp_files(out: str) -> None:
    for path in glob.glob(os.path.join(out, ".posetalk-*")):  # an atomic write cut short by a kill
        try:
            os.unlink(path)
        except OSError:
            pass


def _make_pool(p: dict[str, Any], todo: int, out: str) -> Pool:
    if p["ray"]:
        from .ray_pool import RayPool  # noqa: PLC0415 (Ray loads only for --ray)

        return RayPool(p["ray"], p["workers"], p["gpus_per_worker"], p["transfer"], max_workers=todo)
    workers = min(p["workers"] or default_workers(), max(1, todo))
    return LocalPool(workers, threads=max(1, cpu_cores() // workers), log=os.path.join(out, LOG_NAME))


def _report(out: str, manifest: str, plan: Plan, run: BatchRun | None, pool: Pool | None, started: float,
            status: str) -> dict[str, Any]:  # fmt: skip
    """report.json: the run's numbers, the failures, and every row's state in manifest order."""
    results = run.results if run is not None else {}
    earlier_failures = {row.id: record for row, record in plan.failed}
    done_before = {row.id for row in plan.done}
    rows = []
    for row in plan.rows:
        entry: dict[str, Any] = {"id": row.id, "line": row.line}
        if row.id in results:
            entry.update(results[row.id], skipped=False)
        elif row.id in done_before:
            entry.update(status="done", skipped=True)
        elif row.id in earlier_failures:
            record = earlier_failures[row.id]
            entry.update(status="failed", skipped=True, code=record.get("code"), reason=record.get("reason"))
        else:
            entry.update(status="not_run", skipped=False)
        rows.append(entry)
    failures = [r for r in rows if r["status"] == "failed"]
    ran_done = [r for r in results.values() if r["status"] == "done"]
    seconds = time.time() - started
    return {
        "format": "posetalk.batch-report/1",
        "status": status,
        "manifest": manifest,
        "out": out,
        "engine": __version__,
        "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 2),
        "pool": pool.describe() if pool is not None else None,
        "plan": plan.summary(),
        "rows": len(rows),
        "done": sum(1 for r in rows if r["status"] == "done"),
        "failed": len(failures),
        "not_run": sum(1 for r in rows if r["status"] == "not_run"),
        "ran": len(results),
        "rows_per_minute": round(len(results) / (seconds / 60.0), 2) if results and seconds > 0 else 0.0,
        "row_seconds_median": _median([r["seconds"] for r in ran_done]),
        "worker_peak_memory_mb": run.worker_memory if run is not None else {},
        "failures": failures,
        "row_states": rows,
    }


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else round((values[mid - 1] + values[mid]) / 2, 3)


def _dry_run(plan: Plan, progress: BatchProgress) -> int:
    progress.emit("plan", dry_run=True, **plan.summary(), todo_rows=[{"id": i.row.id, "why": i.why} for i in plan.todo])
    s = plan.summary()
    progress.say(f"{s['rows']} rows: {s['skipped_done']} done and unchanged, {s['skipped_failed']} failed on bad "
                 f"input and unchanged, {s['todo']} to run ({', '.join(f'{n} {w}' for w, n in s['why'].items())}); "
                 f"planned in {s['plan_seconds']:.2f} s")  # fmt: skip
    for item in plan.todo[:20]:
        progress.say(f"  would run {item.row.id} (line {item.row.line}): {item.why}")
    if len(plan.todo) > 20:
        progress.say(f"  ... and {len(plan.todo) - 20} more")
    return 0


def run_batch(params: dict[str, Any], quiet: bool = False) -> int:
    """The ``batch`` command; returns the exit status."""
    started = time.time()
    planning, planning_cpu = time.monotonic(), time.process_time()
    p = check("batch", params)
    manifest = os.path.abspath(p["manifest"])
    rows = read_manifest(manifest)  # BadInput (exit 2) before anything is written
    steps = BLEND_STEPS if p["blend"] else DEFAULT_STEPS
    outputs = outputs_of(steps)
    if p["blend"] and p["ray"] in (None, "local"):  # a joined cluster's nodes find their own Blender
        blender_command(p["blender"])
    if p["ray"]:
        from .ray_pool import check_address  # noqa: PLC0415

        check_address(p["ray"])
    if p["dry_run"]:
        out = os.path.abspath(p["out"])
        state = Ledger(out).read() if os.path.isdir(out) else LedgerState()
        plan = make_plan(rows, out, state, outputs, p["retry_failed"])
        plan.seconds = time.monotonic() - planning  # reading the manifest and the ledger included
        plan.cpu_seconds = time.process_time() - planning_cpu
        return _dry_run(plan, BatchProgress(len(plan.todo), p["json_progress"], False))
    out = _prepare_out(p["out"])
    with _locked(out), _sigterm_interrupts(), _progress_stream(p["json_progress"]) as stream:
        _clean_stale_temp_files(out)
        ledger = Ledger(out)
        plan = make_plan(rows, out, ledger.read(), outputs, p["retry_failed"])
        plan.seconds = time.monotonic() - planning
        plan.cpu_seconds = time.process_time() - planning_cpu
        progress = BatchProgress(len(plan.todo), p["json_progress"], quiet, out=stream)
        s = plan.summary()
        progress.emit("plan", **s)
        progress.say(f"{s['rows']} rows: {s['todo']} to run, {s['skipped_done']} done already"
                     + (f", {s['skipped_failed']} failed before on bad input (unchanged)" if s["skipped_failed"] else ""))  # fmt: skip
        pool = _make_pool(p, len(plan.todo), out) if plan.todo else None
        run = (
            BatchRun(out, plan, pool, ledger, progress, p["retries"], steps, p["blender"]) if pool is not None else None
        )
        status = "finished"
        try:
            if run is not None:
                run.run()
        except KeyboardInterrupt:
            status = "interrupted"
        except EngineError:
            status = "aborted"
            raise
        finally:
            progress.close()
            report = _report(out, manifest, plan, run, pool, started, status)
            write_json_atomic(os.path.join(out, REPORT_NAME), report, indent=2)
        return _finish(report, progress, os.path.join(out, REPORT_NAME))


def _finish(report: dict[str, Any], progress: BatchProgress, report_path: str) -> int:
    code = 130 if report["status"] == "interrupted" else 1 if report["failed"] or report["not_run"] else 0
    progress.emit("end", done=report["done"], failed=report["failed"], not_run=report["not_run"],
                  rows=report["rows"], seconds=report["seconds"], report=report_path, exit_code=code)  # fmt: skip
    err = progress.err
    if report["failures"] and not progress.json_lines:
        err.write(f"{report['failed']} of {report['rows']} rows failed:\n{failure_table(report['failures'])}\n")
    if not progress.json_lines:
        extra = f", {report['not_run']} not run (interrupted)" if report["not_run"] else ""
        err.write(f"batch {report['status']}: {report['done']} of {report['rows']} rows done, "
                  f"{report['failed']} failed{extra}; report: {report_path}\n")  # fmt: skip
        err.flush()
    return code
