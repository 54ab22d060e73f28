"""How a batch run shows itself: a progress bar on a terminal, JSON lines for pipelines, plain lines otherwise,
and at the end a table of the failures.

The bar (tqdm) shows rows finished of those to run, done and failed, rows per minute and the time left. With
``--json-progress`` stdout carries one JSON object per line: ``plan``, then ``start``, ``done``, ``failed`` and
``retry`` per row (with the running counts, rows per minute and the ETA in seconds), then ``end``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from tqdm import tqdm

REASON_WIDTH = 100  # the failure table cuts longer reasons (report.json has them whole)


class BatchProgress:
    """Progress of the rows that run (rows skipped as done are counted in the plan, not here)."""

    def __init__(self, total: int, json_lines: bool, quiet: bool, out: TextIO | None = None,
                 err: TextIO | None = None) -> None:  # fmt: skip
        self.total = total
        self.json_lines = json_lines
        self.quiet = quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.done = self.failed = 0
        self.started = time.monotonic()
        self._bar: tqdm | None = None
        if not json_lines and not quiet and total and self.err.isatty():
            self._bar = tqdm(total=total, unit="row", file=self.err, dynamic_ncols=True, smoothing=0.05,
                             bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")  # fmt: skip

    # output ---------------------------------------------------------------------------------------------------------
    def emit(self, event: str, **fields: Any) -> None:
        """One JSON line on stdout (only with ``--json-progress``)."""
        if self.json_lines:
            self.out.write(json.dumps({"event": event, **fields}, separators=(",", ":")) + "\n")
            self.out.flush()

    def say(self, text: str) -> None:
        """A line for people on stderr (above the bar when there is one)."""
        if self.quiet or self.json_lines:
            return
        if self._bar is not None:
            self._bar.write(text, file=self.err)
        else:
            self.err.write(text + "\n")
            self.err.flush()

    # rates ----------------------------------------------------------------------------------------------------------
    def rates(self) -> dict[str, Any]:
        finished = self.done + self.failed
        minutes = (time.monotonic() - self.started) / 60.0
        per_min = finished / minutes if minutes > 0 and finished else 0.0
        left = self.total - finished
        eta = left / per_min * 60.0 if per_min > 0 else None
        return {"done": self.done, "failed": self.failed, "remaining": left, "rows_per_min": round(per_min, 2),
                "eta_s": None if eta is None else round(eta, 1)}  # fmt: skip

    def _advance(self) -> None:
        if self._bar is not None:
            r = self.rates()
            self._bar.set_postfix_str(f"done {r['done']}, failed {r['failed']}, {r['rows_per_min']:.1f} rows/min",
                                      refresh=False)  # fmt: skip
            self._bar.update(1)

    # events ---------------------------------------------------------------------------------------------------------
    def row_started(self, row_id: str, attempt: int, worker: dict[str, Any]) -> None:
        self.emit("start", id=row_id, attempt=attempt, worker=worker)

    def row_done(self, row_id: str, seconds: float, attempt: int) -> None:
        self.done += 1
        self._advance()
        self.emit("done", id=row_id, seconds=seconds, attempt=attempt, **self.rates())
        if self._bar is None:
            self.say(f"[{self.done + self.failed}/{self.total}] done {row_id} ({seconds:.1f} s)")

    def row_failed(self, row_id: str, code: str, reason: str, attempt: int) -> None:
        self.failed += 1
        self._advance()
        self.emit("failed", id=row_id, code=code, reason=reason, attempt=attempt, **self.rates())
        self.say(f"[{self.done + self.failed}/{self.total}] failed {row_id}: {reason}")

    def row_retry(self, row_id: str, reason: str, attempt: int) -> None:
        self.emit("retry", id=row_id, reason=reason, attempt=attempt)
        self.say(f"retrying {row_id} (attempt {attempt + 1}): {reason}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def failure_table(failures: list[dict[str, Any]]) -> str:
    """The failed rows as a readable table: id, manifest line, reason."""
    head = ("id", "line", "reason")
    rows = [(f["id"], str(f["line"]), _cut(f.get("reason") or "")) for f in failures]
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(2)]
    lines = [f"  {head[0]:<{widths[0]}}  {head[1]:>{widths[1]}}  {head[2]}"]
    lines.append(f"  {'-' * widths[0]}  {'-' * widths[1]}  {'-' * 6}")
    lines += [f"  {r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]}" for r in rows]
    return "\n".join(lines)


def _cut(text: str) -> str:
    return text if len(text) <= REASON_WIDTH else text[: REASON_WIDTH - 1] + "…"
