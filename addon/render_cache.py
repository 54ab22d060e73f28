"""Rendered frames in the cache folder: which renders a head made, pruning the replaced ones, the cache's size.

Render Frames writes each render into its own folder under ``<cache>/render`` so that undo brings back a
strip whose frames still exist. A minute of 512² frames is about 600 MB, so a re-render deletes the renders
this head made before, in this .blend file, that no strip of the file shows any more, except the newest
of them (one undo step back still plays). Folders the animator chose (the Output Folder option) and
renders recorded by another .blend file are never touched. The preferences show the cache's size and
clear the renders no strip of the open file uses.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

import bpy

from . import prefs, rig

RECORD = "_posetalk_cache_renders"  # hidden ID property of the head: JSON list of {"dir", "blend", "time"}
KEEP_PREVIOUS = 1


def render_root() -> str:
    return os.path.join(prefs.cache_dir(), "render")


def _norm(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def in_cache(folder: str) -> bool:
    root = _norm(render_root())
    return os.path.dirname(_norm(folder)) == root


def referenced_dirs() -> set[str]:
    """Folders of every image strip in every scene of the open file."""
    out: set[str] = set()
    for scene in bpy.data.scenes:
        for s in rig.all_strips(scene):
            if s.type == "IMAGE" and s.directory:
                out.add(_norm(bpy.path.abspath(s.directory)))
    return out


def _records(head: bpy.types.Object) -> list[dict[str, Any]]:
    try:
        data = json.loads(head.get(RECORD, "[]"))
    except (TypeError, ValueError):
        return []
    return [r for r in data if isinstance(r, dict) and isinstance(r.get("dir"), str)]


def _folder_bytes(folder: str) -> int:
    total = 0
    for base, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(base, name))
            except OSError:
                pass
    return total


def record(head: bpy.types.Object, folder: str) -> None:
    """Remember that ``head`` rendered into the cache folder ``folder`` from this .blend file."""
    if not in_cache(folder):
        return
    rows = [r for r in _records(head) if _norm(r["dir"]) != _norm(folder)]
    rows.append({"dir": folder, "blend": bpy.data.filepath, "time": round(time.time(), 1)})
    head[RECORD] = json.dumps(rows)


def prune(head: bpy.types.Object, keep_previous: int = KEEP_PREVIOUS) -> tuple[int, int]:
    """Delete the cache renders ``head`` made in this file that no strip shows, but the newest ``keep_previous``.

    Returns (folders deleted, bytes freed). Renders recorded under another .blend path are left alone: a
    copy saved elsewhere may still show them.
    """
    rows = _records(head)
    used = referenced_dirs()
    blend = bpy.data.filepath
    mine = [r for r in rows if r.get("blend", "") in (blend, "") and in_cache(r["dir"])]
    unused = [r for r in mine if _norm(r["dir"]) not in used]
    unused.sort(key=lambda r: float(r.get("time", 0.0)))
    doomed = unused[: max(0, len(unused) - keep_previous)]
    count = freed = 0
    gone: set[str] = set()
    for r in doomed:
        folder = r["dir"]
        if os.path.isdir(folder):
            size = _folder_bytes(folder)
            shutil.rmtree(folder, ignore_errors=True)
            if os.path.isdir(folder):
                continue  # could not delete it (permissions): keep the record
            count, freed = count + 1, freed + size
        gone.add(_norm(folder))
    if gone:
        head[RECORD] = json.dumps([r for r in rows if _norm(r["dir"]) not in gone])
    return count, freed


_usage: dict[str, Any] = {"root": None, "time": 0.0, "value": (0, 0)}


def usage(max_age: float = 10.0) -> tuple[int, int]:
    """(render folders, bytes) under the cache's render folder; recomputed at most every ``max_age`` seconds."""
    root = render_root()
    now = time.monotonic()
    if _usage["root"] == root and now - _usage["time"] < max_age:
        return _usage["value"]
    folders = [os.path.join(root, n) for n in os.listdir(root)] if os.path.isdir(root) else []
    folders = [f for f in folders if os.path.isdir(f)]
    value = (len(folders), sum(_folder_bytes(f) for f in folders))
    _usage.update(root=root, time=now, value=value)
    return value


def clear_unused() -> tuple[int, int]:
    """Delete every render folder in the cache that no strip of the open file shows; (folders, bytes freed)."""
    root = render_root()
    used = referenced_dirs()
    count = freed = 0
    if os.path.isdir(root):
        for name in sorted(os.listdir(root)):
            folder = os.path.join(root, name)
            if not os.path.isdir(folder) or _norm(folder) in used:
                continue
            size = _folder_bytes(folder)
            shutil.rmtree(folder, ignore_errors=True)
            if not os.path.isdir(folder):
                count, freed = count + 1, freed + size
    _usage["time"] = 0.0
    return count, freed


def human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n:.1f} GB"
