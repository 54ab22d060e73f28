"""The batch ledger: ``<out>/ledger.jsonl``, an append-only record of every row's state, and the row keys.

Every attempt appends ``started``, then ``done``, ``failed`` or ``crashed``; the last record of a row is its
state. A row's *key* hashes what decides its outputs: the contents of its input files (SHA-256, not their
names), its parameters and the engine version, and which outputs the run makes. A rerun skips a row whose last
record is ``done`` with the same key and whose outputs are still there, and runs the rest. A record is one
``write`` of one line with ``O_APPEND``; a line cut short by a kill is skipped when reading.

Hashing every input on every rerun would read gigabytes for a long manifest, so a hash is reused while the
file's size and modification time are the ones it was hashed at (as git's index does), except when the file
was modified within :data:`RACY_SECONDS` of being hashed (a later change could keep the same time stamp).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..params import OPS, Param
from .manifest import OP

LEDGER_NAME = "ledger.jsonl"
RACY_SECONDS = 2.0
EXECUTION_ONLY = ("device", "cache_dir")  # where and how a row runs, not what it makes: not in the key
FINAL_STATES = ("done", "failed")
_CHUNK = 1 << 20


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class FileDigests:
    """Content hashes of input files, reusing those the ledger holds for unchanged files; one hash per path per run."""

    def __init__(self, known: dict[str, dict[str, Any]] | None = None) -> None:
        self._known = dict(known or {})
        self._this_run: dict[str, dict[str, Any] | None] = {}
        self.hashed = 0  # files read this run (the rest came from the ledger)

    def entry(self, path: str) -> dict[str, Any] | None:
        """``{"path", "size", "mtime_ns", "sha256", "hashed_ns"}`` of ``path``, or None when it is not a file."""
        if path in self._this_run:
            return self._this_run[path]
        try:
            st = os.stat(path)
        except OSError:
            st = None
        entry = None
        if st is not None and stat.S_ISREG(st.st_mode):
            old = self._known.get(path)
            if (
                old is not None
                and old["size"] == st.st_size
                and old["mtime_ns"] == st.st_mtime_ns
                and old["hashed_ns"] - st.st_mtime_ns > RACY_SECONDS * 1e9
            ):
                entry = old
            else:
                try:
                    digest = _sha256(path)
                except OSError:
                    digest = None
                if digest is not None:
                    self.hashed += 1
                    entry = {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest,
                             "hashed_ns": time.time_ns()}  # fmt: skip
        self._this_run[path] = entry
        return entry


def path_params() -> list[str]:
    """The animate params that name input files (hashed by content)."""
    return [p.name for p in OPS[OP] if p.kind == "path" and p.name not in EXECUTION_ONLY]


def row_key(params: dict[str, Any], inputs: dict[str, dict[str, Any] | None], outputs: tuple[str, ...]) -> str:
    """The hash of what decides a row's outputs: input contents, parameters (defaults left out), engine, outputs."""
    table: dict[str, Param] = {p.name: p for p in OPS[OP]}
    what: dict[str, Any] = {}
    for name, value in sorted(params.items()):
        if name in EXECUTION_ONLY or (name in table and value == table[name].default):
            continue
        if name in inputs:
            entry = inputs[name]
            value = "missing" if entry is None else "sha256:" + entry["sha256"]
        what[name] = value
    doc = {"params": what, "engine": __version__, "outputs": list(outputs)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class LedgerState:
    """What a ledger says: the last record of each row, the known input hashes, lines that could not be read."""

    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    known_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: int = 0
    unreadable: int = 0


class Ledger:
    """``<folder>/ledger.jsonl``: read once, then appended to by the one process that runs the batch."""

    def __init__(self, folder: str) -> None:
        self.path = os.path.join(folder, LEDGER_NAME)
        self._fd: int | None = None

    def read(self) -> LedgerState:
        state = LedgerState()
        if not os.path.exists(self.path):
            return state
        with open(self.path, "rb") as fh:
            for raw in fh:
                try:
                    record = json.loads(raw)
                    row_id = record["id"]
                except (ValueError, KeyError, TypeError):
                    state.unreadable += 1  # a line cut short by a kill, or edited by hand
                    continue
                state.records += 1
                state.last[row_id] = record
                for entry in (record.get("inputs") or {}).values():
                    if entry:
                        state.known_files[entry["path"]] = entry
        return state

    def append(self, record: dict[str, Any], sync: bool = False) -> None:
        """Append one record as one line (one ``write`` with O_APPEND); ``sync`` waits until it is on disk."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            size = os.fstat(self._fd).st_size
            if size and os.pread(self._fd, 1, size - 1) != b"\n":
                os.write(self._fd, b"\n")  # end a line cut short by a kill, so the next record is a line of its own
        line = json.dumps({"t": round(time.time(), 3), **record}, separators=(",", ":"), allow_nan=False) + "\n"
        os.write(self._fd, line.encode())
        if sync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
