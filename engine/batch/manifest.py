"""The batch manifest: CSV or JSON Lines, one dialogue line per row, read and checked before any work.

Columns: ``id``, ``image``, ``audio``, ``prompt`` and, optionally, any other option of the ``animate`` op (its
parameter table in engine.params is read at run time, so a new animate option is a manifest column at once).
Paths are relative to the manifest's folder. A malformed manifest (no header, an unknown or missing column, a
duplicate or unusable id, a value of the wrong type or out of range) is one BadInput line naming the line;
what only running a row can tell (a missing file, no face, silent audio, an empty prompt) fails that row alone.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from ..errors import BadInput
from ..params import OPS, Param

OP = "animate"  # the op each row runs
REQUIRED = ("id", "image", "audio", "prompt")
OUTPUTS = ("out", "pose_out", "lips_out")  # named by the batch: <out>/<id>.mp4, .pose.json, .lips.json
CHECKED_KINDS = ("float", "int", "bool", "choice")  # checked when the manifest is read; the rest when the row runs
ID_MAX_BYTES = 160
_ID_BAD = re.compile(r"[/\\\x00-\x1f\x7f]")
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass(frozen=True)
class Row:
    """One manifest row: its id, its line in the manifest and the animate params it sets (paths absolute)."""

    id: str
    line: int
    params: dict[str, Any]


def columns() -> dict[str, Param]:
    """The manifest's columns (but ``id``) and the animate parameter each one sets."""
    return {p.name: p for p in OPS[OP] if p.name not in OUTPUTS}


def _where(name: str, line: int, row_id: str | None = None) -> str:
    return f"{name} line {line}" + (f" (id {row_id!r})" if row_id else "")


def _text_value(param: Param, text: str) -> Any:
    """A CSV cell as the parameter's type (what cannot be converted stays text: the check then names it)."""
    if param.kind in ("str", "doc"):
        return text
    text = text.strip()
    if param.kind == "bool":
        low = text.lower()
        return True if low in _TRUE else False if low in _FALSE else text
    if param.kind in ("float", "int"):
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
    return text


def _check_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadInput(f"the id must be text, got {value!r}")
    row_id = str(value).strip()
    if not row_id:
        raise BadInput("the id is empty")
    if _ID_BAD.search(row_id) or row_id.startswith(".") or len(row_id.encode()) > ID_MAX_BYTES:
        raise BadInput(
            f"the id {row_id!r} cannot name a file (no slashes or control characters, no leading dot, "
            f"at most {ID_MAX_BYTES} bytes)"
        )
    return row_id


def _row_params(values: dict[str, Any], table: dict[str, Param], folder: str, from_text: bool) -> dict[str, Any]:
    """A row's animate params: typed, range-checked where the manifest can tell, paths made absolute."""
    params: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or (isinstance(value, str) and not value.strip() and name != "prompt"):
            continue  # an empty cell: the option's default (an empty prompt is the row's own error)
        param = table[name]  # the columns were checked against the table
        kind = param.kind
        if kind in CHECKED_KINDS:
            if from_text or isinstance(value, str):
                value = _text_value(param, value)
            value = param.check(value)
        elif not isinstance(value, str):
            raise BadInput(f"{name} must be text, got {value!r}")
        elif kind == "path":
            value = value.strip()
            value = os.path.normpath(os.path.join(folder, os.path.expanduser(value) if value[:1] == "~" else value))
        params[name] = value
    return params


def _check_columns(names: list[str], table: dict[str, Param], where: str) -> None:
    known = set(table) | {"id"}
    for name in names:
        if name in OUTPUTS:
            raise BadInput(f"{where}: column {name!r} is not a manifest column (the batch names the outputs)")
        if name not in known:
            listed = ", ".join(["id", *sorted(known - {"id"})])
            raise BadInput(f"{where}: unknown column {name!r} (the columns are {listed})")


def _rows_from_csv(path: str, name: str, table: dict[str, Param]) -> list[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        text = fh.read()
    first = next((t for t in text.splitlines() if t.strip() and not t.lstrip().startswith("#")), "")
    delimiter = max(",;\t|", key=lambda c: (first.count(c), c == ","))  # of the header line
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, dict[str, Any]]] = []
    header: list[str] | None = None
    line = 0
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not cells or cells[0].lstrip().startswith("#") or not "".join(cells).strip():
            continue
        if header is None:
            header = [c.strip().lower() for c in cells]
            if not set(header) & (set(table) | {"id"}):
                raise BadInput(
                    f"{_where(name, start)}: no header: the first line must name the columns, e.g. {','.join(REQUIRED)}"
                )
            _check_columns(header, table, _where(name, start))
            dupes = sorted({c for c in header if header.count(c) > 1})
            if dupes:
                raise BadInput(f"{_where(name, start)}: column {dupes[0]!r} appears twice")
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise BadInput(f"{_where(name, start)}: missing column{'s' * (len(missing) > 1)} {', '.join(missing)}")
            continue
        if len(cells) != len(header):
            raise BadInput(f"{_where(name, start)}: {len(cells)} values for {len(header)} columns")
        rows.append((start, dict(zip(header, cells))))
    if header is None:
        raise BadInput(f"{name}: the manifest is empty (the first line must name the columns)")
    return rows


def _rows_from_jsonl(path: str, name: str, table: dict[str, Param]) -> list[tuple[int, dict[str, Any]]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    with open(path, encoding="utf-8-sig") as fh:
        for line, text in enumerate(fh, 1):
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            try:
                values = json.loads(text)
            except json.JSONDecodeError as exc:
                raise BadInput(f"{_where(name, line)}: not JSON ({exc.msg})") from None
            if not isinstance(values, dict):
                raise BadInput(f"{_where(name, line)}: a row must be a JSON object")
            _check_columns(list(values), table, _where(name, line))
            if "id" not in values:
                raise BadInput(f"{_where(name, line)}: the row has no id")
            rows.append((line, values))
    return rows


def read_manifest(path: str) -> list[Row]:
    """The manifest's rows, checked; BadInput (with the line) for a malformed manifest."""
    path = os.path.abspath(os.fspath(path))
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise BadInput(f"manifest not found: {path}")
    table = columns()
    jsonl = path.lower().endswith(JSONL_SUFFIXES)
    try:
        if not jsonl and not path.lower().endswith((".csv", ".tsv", ".txt")):
            with open(path, encoding="utf-8-sig") as fh:
                jsonl = fh.read(4096).lstrip().startswith("{")
        raw = _rows_from_jsonl(path, name, table) if jsonl else _rows_from_csv(path, name, table)
    except UnicodeDecodeError as exc:
        raise BadInput(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise BadInput(f"{name}: not a readable CSV file ({exc})") from None
    folder = os.path.dirname(path)
    rows: list[Row] = []
    seen: dict[str, tuple[str, int]] = {}
    for line, values in raw:
        row_id = None
        try:
            row_id = _check_id(values.pop("id", None))
            first = seen.get(row_id.casefold())
            if first is not None:
                raise BadInput(
                    f"duplicate id (first on line {first[1]})"
                    if first[0] == row_id
                    else f"the id differs from {first[0]!r} (line {first[1]}) only in case; their files would "
                    "overwrite each other on many file systems"
                )
            seen[row_id.casefold()] = (row_id, line)
            rows.append(Row(row_id, line, _row_params(values, table, folder, from_text=not jsonl)))
        except BadInput as exc:
            raise BadInput(f"{_where(name, line, row_id)}: {exc.message}") from None
    return rows
