"""Rendered frames in the cache folder: marking each render, pruning replaced ones, the cache's size.

Render Frames writes each render into its own folder under ``<cache>/render`` so that undo brings back a
strip whose frames still exist. A minute of 512² frames is about 600 MB, so a re-render deletes the older
renders of the same head made from this .blend file that no strip shows any more, except the newest of them
(one undo step back still plays) and those the file showed when it was last opened or saved (a Revert
still finds its frames). Each cache render carries a marker file saying which head and .blend made it;
folders without one (the animator's own Output Folder, anything else in the cache folder) are never
deleted, and neither are renders marked by another .blend file. The preferences show the cache's size
and clear the marked renders no strip of the open file shows.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

import bpy
from bpy.app.handlers import persistent

from . import compat, prefs

MARKER = ".posetalk-render"  # JSON: {"head", "blend", "time"}
KEEP_PREVIOUS = 1
_saved: set[str] = set()  # folders the .blend on disk shows (as last opened or saved)


def render_root() -> str:
    return os.path.join(prefs.cache_dir(), "render")


def _norm(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def referenced_dirs() -> set[str]:
    """Folders of every image strip in every scene of the open file."""
    out: set[str] = set()
    for scene in bpy.data.scenes:
        for s in compat.all_strips(scene):
            if s.type == "IMAGE" and s.directory:
                out.add(_norm(bpy.path.abspath(s.directory)))
    return out


def mark(folder: str, head: bpy.types.Object) -> None:
    """Mark ``folder`` as a cache render of ``head`` made from the open .blend file."""
    data = {"head": head.name, "blend": bpy.data.filepath, "time": round(time.time(), 3)}
    with open(os.path.join(folder, MARKER), "w", encoding="utf-8") as fh:
        json.dump(data, fh)


def _marked() -> list[tuple[str, dict[str, Any]]]:
    """(folder, marker) of every marked render folder in the cache."""
    root = render_root()
    out = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        folder = os.path.join(root, name)
        try:
            with open(os.path.join(folder, MARKER), encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            out.append((folder, data))
    return out


def folder_bytes(folder: str) -> int:
    total = 0
    for base, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(base, name))
            except OSError:
                pass
    return total


def _delete(folders: list[str]) -> tuple[int, int]:
    count = freed = 0
    for folder in folders:
        size = folder_bytes(folder)
        shutil.rmtree(folder, ignore_errors=True)
        if not os.path.isdir(folder):
            count, freed = count + 1, freed + size
    _usage["time"] = 0.0
    return count, freed


def prune(head: bpy.types.Object, keep_previous: int = KEEP_PREVIOUS) -> tuple[int, int]:
    """Delete the older cache renders of ``head`` from this file that nothing needs; (folders, bytes freed).

    Kept: what a strip shows, what the .blend on disk shows, the newest ``keep_previous`` of the rest, and
    renders marked by another .blend file (a copy saved elsewhere may show them).
    """
    blend = bpy.data.filepath
    keep = referenced_dirs() | _saved
    mine = [
        (float(m.get("time", 0.0)), folder)
        for folder, m in _marked()
        if m.get("head") == head.name and m.get("blend", "") in (blend, "") and _norm(folder) not in keep
    ]
    mine.sort()
    return _delete([folder for _t, folder in mine[: max(0, len(mine) - keep_previous)]])


def unused() -> list[str]:
    """Marked cache renders that no strip of the open file shows."""
    used = referenced_dirs()
    return [folder for folder, _m in _marked() if _norm(folder) not in used]


def clear_unused() -> tuple[int, int]:
    """Delete every marked cache render that no strip of the open file shows; (folders, bytes freed)."""
    return _delete(unused())


_usage: dict[str, Any] = {"root": None, "time": 0.0, "value": (0, 0)}


def usage(max_age: float = 30.0) -> tuple[int, int]:
    """(renders, bytes) of the marked renders in the cache; recomputed at most every ``max_age`` seconds."""
    root = render_root()
    now = time.monotonic()
    if _usage["root"] == root and now - _usage["time"] < max_age and _usage["time"] > 0.0:
        return _usage["value"]
    folders = [folder for folder, _m in _marked()]
    value = (len(folders), sum(folder_bytes(f) for f in folders))
    _usage.update(root=root, time=now, value=value)
    return value


def human_size(n: float) -> str:
    for unit in ("bytes", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n:.1f} GB"


@persistent
def _remember_saved(*_args: Any) -> None:
    """After a file is opened or saved: the folders its strips show must survive a Revert."""
    _saved.clear()
    _saved.update(referenced_dirs())


def register() -> None:
    for handlers in (bpy.app.handlers.load_post, bpy.app.handlers.save_post):
        if _remember_saved not in handlers:
            handlers.append(_remember_saved)
    try:  # enabled with a file already open (at start-up bpy.data is not readable yet; load_post follows)
        _remember_saved()
    except AttributeError:
        pass


def unregister() -> None:
    for handlers in (bpy.app.handlers.load_post, bpy.app.handlers.save_post):
        while _remember_saved in handlers:
            handlers.remove(_remember_saved)
