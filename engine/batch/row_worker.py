"""The worker side of a batch: one long-lived object per worker process or Ray actor that runs rows.

It keeps the models loaded between rows (the ops cache them per process). A row's *task* says which steps to
run, with which params, where to stage the outputs and how the files travel:

- inputs: read from their paths; on Ray with ``verify`` set, only when the file at that path on this node has
  the content hash the driver saw (else the worker answers ``need_files`` and the driver sends the bytes through
  Ray's object store, as ``blobs``);
- outputs: written into the row's staging folder in the output folder when this node sees that folder (a marker
  file with the run's token tells), else into a local temporary folder and returned as bytes.

Bad input and engine errors fail the row with the engine's one-line message; they never end the worker.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import socket
import sys
import tempfile
import time
import traceback
from collections import OrderedDict
from typing import Any

from ..errors import EngineError
from ..jobs import Job
from .steps import run_steps

BLOB_CACHE = 16  # input files received through the object store kept on this node (portraits repeat)
_CHUNK = 1 << 20


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (its own: Linux keeps ru_maxrss across exec, VmHWM starts anew)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            return round(next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024, 1)
    except (OSError, StopIteration, ValueError):
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, kB on Linux
        return round(maxrss / (2**20 if sys.platform == "darwin" else 1024), 1)


def limit_threads(threads: int) -> None:
    """Use ``threads`` CPU threads in this process (set before torch does its own work)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch  # noqa: PLC0415

    torch.set_num_threads(threads)


class RowWorker:
    """Runs rows in this process: ``run(task) -> result`` (a picklable dict either way)."""

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._blob_dir: str | None = None
        self._blobs: OrderedDict[str, str] = OrderedDict()
        self.rows = 0

    def info(self) -> dict[str, Any]:
        """Where this worker runs."""
        import torch  # noqa: PLC0415

        return {"pid": os.getpid(), "host": socket.gethostname(), "cuda": torch.cuda.is_available()}

    # inputs ---------------------------------------------------------------------------------------------------
    def _sha256(self, path: str) -> str | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (path, st.st_size, st.st_mtime_ns)
        if key not in self._hashes:
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    h.update(chunk)
            self._hashes[key] = h.hexdigest()
        return self._hashes[key]

    def _unseen_inputs(self, task: dict[str, Any]) -> list[str]:
        """The inputs whose file at the given path on this node is not the one the driver hashed."""
        return [
            name
            for name, entry in task["files"].items()
            if not os.path.isfile(entry["path"]) or self._sha256(entry["path"]) != entry["sha256"]
        ]

    def _blob_path(self, entry: dict[str, Any], blob: Any) -> str:
        """A local file with the bytes of an input sent through the object store (its suffix kept for decoders)."""
        key = entry["sha256"]
        if key in self._blobs and os.path.isfile(self._blobs[key]):
            self._blobs.move_to_end(key)
            return self._blobs[key]
        if not isinstance(blob, bytes):
            import ray  # noqa: PLC0415 (only workers that get inputs through Ray's object store)

            blob = ray.get(blob)
        if self._blob_dir is None:
            self._blob_dir = tempfile.mkdtemp(prefix="posetalk-batch-inputs-")
        folder = os.path.join(self._blob_dir, key[:24])  # the file keeps its name: the engine's messages name it
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, os.path.basename(entry["path"]))
        with open(path, "wb") as fh:
            fh.write(blob)
        self._blobs[key] = path
        while len(self._blobs) > BLOB_CACHE:
            _key, old = self._blobs.popitem(last=False)
            shutil.rmtree(os.path.dirname(old), ignore_errors=True)
        return path

    # outputs --------------------------------------------------------------------------------------------------
    @staticmethod
    def _sees_staging(task: dict[str, Any]) -> bool:
        marker = task["marker"]
        try:
            with open(marker["path"], encoding="utf-8") as fh:
                return fh.read().strip() == marker["token"]
        except OSError:
            return False

    def run(self, task: dict[str, Any]) -> dict[str, Any]:
        """Run one row; ``{"status": "done" | "failed" | "need_files", ...}``."""
        started = time.monotonic()
        self.rows += 1
        params = dict(task["params"])
        blobs = task.get("blobs") or {}
        if task.get("verify") and not blobs:
            unseen = self._unseen_inputs(task)
            if unseen:
                return {"status": "need_files", "id": task["id"], "missing": unseen}
        for name, blob in blobs.items():
            params[name] = self._blob_path(task["files"][name], blob)
        local = task.get("return_outputs") or not self._sees_staging(task)
        folder = tempfile.mkdtemp(prefix="posetalk-batch-row-") if local else task["staging"]
        if not local and not os.path.isdir(folder):
            os.mkdir(folder)  # inside the run's staging folder, which only the runner makes
        paths = {suffix: os.path.join(folder, task["id"] + suffix) for suffix in task["outputs"]}
        result: dict[str, Any] = {"id": task["id"], "pid": os.getpid()}
        try:
            try:
                info = run_steps(tuple(task["steps"]), params, paths, Job(task["id"]), task)
            except EngineError as exc:
                return {**result, "status": "failed", "code": exc.code, "reason": exc.message}
            except MemoryError:
                return {**result, "status": "failed", "code": "engine_error", "reason": "out of memory"}
            except Exception as exc:  # an engine fault: the row fails with one line, the details go to the log
                traceback.print_exc(file=sys.stderr)
                reason = f"internal engine error: {type(exc).__name__}: {exc}"
                return {**result, "status": "failed", "code": "engine_error", "reason": reason}
            if local:
                outputs: dict[str, Any] = {}
                for suffix, path in paths.items():
                    with open(path, "rb") as fh:
                        outputs[suffix] = fh.read()
            else:
                outputs = paths
            seconds = round(time.monotonic() - started, 3)
            return {**result, "status": "done", "outputs": outputs, "staged": not local, "info": info,
                    "seconds": seconds, "peak_rss_mb": peak_rss_mb()}  # fmt: skip
        finally:
            if local:
                shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        if self._blob_dir is not None:
            shutil.rmtree(self._blob_dir, ignore_errors=True)
