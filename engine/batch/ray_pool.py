"""Batch workers on Ray: one actor per worker slot, each keeping its models loaded, on a local or joined cluster.

``--ray local`` starts a Ray instance for the run that listens on 127.0.0.1 only (with a fresh token for Ray's
token authentication, kept in this process's environment: nothing is written to the home folder), and stops it
at the end. ``--ray ADDRESS`` joins a running cluster (``auto``, ``host:port`` or ``ray://host:port``).

Each actor declares one CPU, its share of the cluster's GPUs (when it has any) and the memory a worker needs, so
Ray places no more actors on a node than it holds; actors Ray cannot place simply never get a row. An actor that
dies (its process killed, its node gone) returns its row to the runner as a crash, and a new actor takes its slot.

Files: with ``transfer=auto`` a node reads the inputs from their paths when its file there has the content hash
the driver saw, and writes outputs into the output folder when it sees that folder (a marker with the run's
token); otherwise the driver sends the input bytes through Ray's object store (once per node that needs them)
and the outputs come back as bytes. ``shared`` never sends files; ``object-store`` always does.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from ..errors import BadInput, EngineError
from .pool import WORKER_MEMORY_MB, PoolEvent
from .row_worker import RowWorker

PLACEMENT_TIMEOUT_S = 900.0  # no actor ready for this long while rows wait: the cluster cannot run the batch
LOCAL_OBJECT_STORE_BYTES = 512 * 2**20


class RowActor:
    """The Ray actor: a RowWorker, plus where it runs."""

    def __init__(self) -> None:
        self.worker = RowWorker()

    def info(self) -> dict[str, Any]:
        import ray  # noqa: PLC0415

        context = ray.get_runtime_context()
        return {**self.worker.info(), "node": context.get_node_id(), "ip": ray.util.get_node_ip_address()}

    def run(self, task: dict[str, Any]) -> dict[str, Any]:
        return self.worker.run(task)


@dataclass
class _Slot:
    actor: Any
    ready_ref: Any = None  # pending until the actor has started and loaded the engine
    info: dict[str, Any] | None = None
    task: dict[str, Any] | None = None
    ref: Any = None


def _one_line(exc: BaseException) -> str:
    """A Ray error in one line: its innermost ``...Error: message`` line when there is one."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if "Error" in line.split(":", 1)[0]]
    text = (named[-1] if named else lines[0] if lines else type(exc).__name__)[:300]
    return text


def _is_loopback(address: str) -> bool:
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_address(address: str) -> str:
    """``--ray``'s value checked: ``local``, ``auto``, ``host:port`` or ``ray://host:port``."""
    if address in ("local", "auto"):
        return address
    rest = address[len("ray://") :] if address.startswith("ray://") else address
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in rest:
        raise BadInput(f"--ray must be local, auto, host:port or ray://host:port, got {address!r}")
    return address


class RayPool:
    """Ray actors as batch workers."""

    kind = "ray"

    def __init__(self, address: str, workers: int | None, gpus_per_worker: float | None, transfer: str,
                 max_workers: int | None = None) -> None:  # fmt: skip
        self.address = check_address(address)
        self.workers = workers or 0
        self.max_workers = max_workers  # no more actors than rows to run
        self.gpus_per_worker = gpus_per_worker
        self.transfer = transfer
        self._slots: list[_Slot] = []
        self._temp_dir: str | None = None
        self._unseen_nodes: set[str] = set()  # nodes that do not see the driver's input files
        self._blob_refs: dict[str, Any] = {}
        self._blob_users: dict[str, int] = {}
        self._replaced = 0
        self._failed_starts = 0  # actor starts in a row that failed
        self._last_start_error = ""
        self._no_slot_since: float | None = None
        self.nodes: dict[str, str] = {}
        self.shipped_rows = 0
        self._ray: Any = None

    # set-up -----------------------------------------------------------------------------------------------------
    def _connect(self) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if self.address == "local" or _is_loopback(self.address):
            # Ray otherwise swaps 127.0.0.1 for the machine's outward address and listens on every interface
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        if self.address == "local" and "RAY_AUTH_MODE" not in os.environ:
            os.environ["RAY_AUTH_MODE"] = "token"
            os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)  # this run's own token, in no file
        import ray  # noqa: PLC0415

        self._ray = ray
        try:
            if self.address == "local":
                self._temp_dir = tempfile.mkdtemp(prefix="posetalk-ray-")
                from .local_pool import cpu_cores  # noqa: PLC0415

                ray.init(address="local", num_cpus=self.workers or cpu_cores(), include_dashboard=False, log_to_driver=False,
                         _temp_dir=self._temp_dir, object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                         configure_logging=False)  # fmt: skip
            else:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise EngineError(f"could not start or join Ray at {self.address}: {_one_line(exc)}") from None

    def start(self) -> None:
        self._connect()
        ray = self._ray
        resources = ray.cluster_resources()
        cpus, gpus = int(resources.get("CPU", 0)), float(resources.get("GPU", 0))
        if not self.workers:
            self.workers = max(1, cpus)
        if self.max_workers:
            self.workers = min(self.workers, self.max_workers)
        share = self.gpus_per_worker
        if share is None:
            share = min(1.0, gpus / self.workers) if gpus else 0.0
        self.gpus_per_worker = share
        self._actor_class = ray.remote(RowActor).options(
            num_cpus=1, num_gpus=share, memory=WORKER_MEMORY_MB * 2**20, max_restarts=0, max_concurrency=1
        )
        self._slots = [self._new_slot() for _ in range(self.workers)]
        self._no_slot_since = time.monotonic()

    def _new_slot(self) -> _Slot:
        actor = self._actor_class.remote()
        return _Slot(actor, ready_ref=actor.info.remote())

    def _replace(self, index: int) -> None:
        try:
            self._ray.kill(self._slots[index].actor, no_restart=True)
        except Exception:  # already gone
            pass
        self._replaced += 1
        self._slots[index] = self._new_slot()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "address": self.address, "workers": self.workers,
                "gpus_per_worker": self.gpus_per_worker, "transfer": self.transfer, "nodes": len(self.nodes),
                "actors_replaced": self._replaced, "rows_sent_through_object_store": self.shipped_rows}  # fmt: skip

    # rows ---------------------------------------------------------------------------------------------------------
    def idle_slots(self) -> list[int]:
        return [i for i, s in enumerate(self._slots) if s.info is not None and s.task is None]

    def busy(self) -> int:
        return sum(1 for s in self._slots if s.task is not None)

    def _blob(self, entry: dict[str, Any]) -> Any:
        key = entry["sha256"]
        if key not in self._blob_refs:
            with open(entry["path"], "rb") as fh:
                self._blob_refs[key] = self._ray.put(fh.read())
        self._blob_users[key] = self._blob_users.get(key, 0) + 1
        return self._blob_refs[key]

    def _release_blobs(self, task: dict[str, Any]) -> None:
        for entry in (task.get("files") or {}).values() if task.get("blobs") else ():
            key = entry["sha256"]
            self._blob_users[key] -= 1
            if self._blob_users[key] <= 0:
                self._blob_users.pop(key)
                self._blob_refs.pop(key, None)  # the object store frees it once no task holds it

    def _send(self, slot: _Slot, task: dict[str, Any], ship: bool) -> None:
        task = {**task, "verify": self.transfer == "auto", "return_outputs": self.transfer == "object-store"}
        if ship:
            task["blobs"] = {name: self._blob(entry) for name, entry in task["files"].items()}
            self.shipped_rows += 1
        slot.task = task
        slot.ref = slot.actor.run.remote(task)

    def submit(self, slot: int, task: dict[str, Any]) -> dict[str, Any]:
        s = self._slots[slot]
        assert s.info is not None and s.task is None
        ship = self.transfer == "object-store" or (self.transfer == "auto" and s.info["node"] in self._unseen_nodes)
        self._send(s, task, ship)
        return {"pid": s.info["pid"], "host": s.info["host"], "node": s.info["node"][:12], "ip": s.info["ip"]}

    def wait(self, timeout: float) -> list[PoolEvent]:
        ray = self._ray
        pending = {s.ready_ref: i for i, s in enumerate(self._slots) if s.info is None and s.ready_ref is not None}
        pending.update({s.ref: i for i, s in enumerate(self._slots) if s.task is not None})
        if not pending:
            time.sleep(min(timeout, 0.1))
            return []
        refs = list(pending)
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        events: list[PoolEvent] = []
        for ref in ready:
            index = pending[ref]
            slot = self._slots[index]
            if slot.info is None and ref is slot.ready_ref:
                self._started(index, ref)
                continue
            events.extend(self._finished(index, ref))
        self._check_stalled()
        return events

    def _started(self, index: int, ref: Any) -> None:
        slot = self._slots[index]
        try:
            slot.info = self._ray.get(ref)
            self.nodes[slot.info["node"]] = slot.info["ip"]
            self._failed_starts = 0
        except self._ray.exceptions.RayError as exc:
            self._last_start_error = _one_line(exc)
            self._failed_starts += 1
            if self._failed_starts > 2 * self.workers + 2:  # e.g. the nodes cannot import the engine
                raise EngineError(f"Ray workers fail to start: {self._last_start_error}") from None
            self._replace(index)

    def _finished(self, index: int, ref: Any) -> list[PoolEvent]:
        ray = self._ray
        slot = self._slots[index]
        task = slot.task
        assert task is not None
        slot.task = slot.ref = None
        self._release_blobs(task)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayError as exc:
            info = slot.info or {}
            where = f"Ray worker {info.get('pid', '?')} on {info.get('ip', '?')}"
            self._replace(index)
            return [PoolEvent(task["id"], crash=f"{where} was lost: {_one_line(exc)}")]
        if result.get("status") == "need_files":  # this node does not see the inputs: send them, same actor
            if self.transfer == "shared":
                missing = ", ".join(task["files"][n]["path"] for n in result["missing"])
                reason = f"node {slot.info and slot.info['ip']} does not see {missing} (--transfer shared)"
                return [PoolEvent(task["id"], result={"status": "failed", "code": "bad_input", "reason": reason})]
            if slot.info is not None:
                self._unseen_nodes.add(slot.info["node"])
            plain = {k: v for k, v in task.items() if k not in ("blobs", "verify", "return_outputs")}
            self._send(slot, plain, ship=True)
            return []
        return [PoolEvent(task["id"], result=result)]

    def _check_stalled(self) -> None:
        if any(s.info is not None for s in self._slots):
            self._no_slot_since = None
            return
        now = time.monotonic()
        if self._no_slot_since is None:
            self._no_slot_since = now
        elif now - self._no_slot_since > PLACEMENT_TIMEOUT_S:
            why = self._last_start_error or "the cluster has no room for a worker (1 CPU and its memory)"
            raise EngineError(f"no Ray worker started within {PLACEMENT_TIMEOUT_S:.0f} s: {why}")

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        for slot in self._slots:
            try:
                ray.kill(slot.actor, no_restart=True)
            except Exception:  # already gone
                pass
        self._slots = []
        self._blob_refs.clear()
        ray.shutdown()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
