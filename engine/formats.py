"""The public JSON formats: ``posetalk.pose/1`` and ``posetalk.lips/1`` (docs/architecture.md, "Formats").

Writers are atomic (temporary file + rename), so a failed or cancelled job never
leaves a partial file behind.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from typing import Any

import numpy as np

from .errors import BadInput

POSE_FORMAT = "posetalk.pose/1"
LIPS_FORMAT = "posetalk.lips/1"
POSE_CHANNELS = ["pitch", "yaw", "roll", "x", "y", "scale"]
NEUTRAL_POSE = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0], dtype=np.float32)


def check_output_path(path: str) -> str:
    """Raise BadInput unless a file can be written at ``path``; return it absolute."""
    if not path:
        raise BadInput("no output path given")
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        raise BadInput(f"output path is a folder: {path}")
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            raise BadInput(f"output folder is a file, not a folder: {folder}")
        raise BadInput(f"output folder does not exist: {folder}")
    try:  # really try: permission bits say little to root, read-only mounts, /proc ...
        fd, probe = tempfile.mkstemp(prefix=".posetalk-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError:
        raise BadInput(f"output folder is not writable: {folder}") from None
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise BadInput(f"output file is not writable: {path}")
    return path


def write_json_atomic(path: str, data: dict[str, Any], indent: int | None = None) -> str:
    """Write ``data`` as JSON to ``path`` through a temporary file in the same folder (compact, or indented)."""
    path = check_output_path(path)
    fd, tmp = tempfile.mkstemp(prefix=".posetalk-", suffix=".json", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=indent, separators=(",", ":") if indent is None else (",", ": "))
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the file is a normal output for other tools
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _round_frames(frames: np.ndarray, decimals: int = 4) -> list[list[float]]:
    return [[round(float(v), decimals) for v in row] for row in np.asarray(frames, dtype=np.float64)]


def pose_document(frames: np.ndarray, fps: float, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``posetalk.pose/1`` document for (n, 6) frames."""
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != len(POSE_CHANNELS):
        raise ValueError(f"pose frames must be (n, 6), got {frames.shape}")
    return {
        "format": POSE_FORMAT,
        "fps": float(fps),
        "channels": list(POSE_CHANNELS),
        "frames": _round_frames(frames),
        "meta": dict(meta or {}),
    }


def lips_document(
    frames: np.ndarray,
    channels: list[str],
    fps: float,
    visemes: list[dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
    viseme_weights: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``posetalk.lips/1`` document; ``channels`` must start with ``mouth_open``. ``viseme_weights``
    (``{"shapes": [...], "frames": [[...], ...]}``, one row per frame) is optional."""
    frames = np.asarray(frames, dtype=np.float64)
    if not channels or channels[0] != "mouth_open":
        raise ValueError("lips channels must start with mouth_open")
    if frames.ndim != 2 or frames.shape[1] != len(channels):
        raise ValueError(f"lips frames must be (n, {len(channels)}), got {frames.shape}")
    doc: dict[str, Any] = {
        "format": LIPS_FORMAT,
        "fps": float(fps),
        "channels": list(channels),
        "frames": _round_frames(frames),
        "meta": dict(meta or {}),
    }
    if visemes is not None:
        doc["visemes"] = visemes
    if viseme_weights is not None:
        doc["viseme_weights"] = viseme_weights
    return doc


def _load_json(path_or_doc: str | dict[str, Any], what: str) -> dict[str, Any]:
    if isinstance(path_or_doc, dict):
        return path_or_doc
    path = os.fspath(path_or_doc)
    if not os.path.isfile(path):
        raise BadInput(f"{what} file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{what} file is not valid JSON: {path} ({exc})") from None


def _check_header(doc: dict[str, Any], fmt: str, what: str) -> float:
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise BadInput(f"{what} is not a {fmt} document")
    fps = doc.get("fps")
    if not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise BadInput(f"{what} has an invalid fps: {fps!r}")
    if not isinstance(doc.get("frames"), list):
        raise BadInput(f"{what} has no frames list")
    return float(fps)


def read_pose(path_or_doc: str | dict[str, Any], allow_null: bool = False) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Read a pose document → ((n, 6) float array, fps, doc).

    With ``allow_null`` (pins files) a frame may be ``null`` or contain ``null``
    values; those entries come back as NaN.
    """
    what = "pins" if allow_null else "pose"
    doc = _load_json(path_or_doc, what)
    fps = _check_header(doc, POSE_FORMAT, what)
    channels = doc.get("channels", POSE_CHANNELS)
    if list(channels) != POSE_CHANNELS:
        raise BadInput(f"{what} channels must be {POSE_CHANNELS}, got {channels}")
    rows = []
    for i, row in enumerate(doc["frames"]):
        if row is None and allow_null:
            rows.append([math.nan] * 6)
            continue
        if not isinstance(row, list) or len(row) != 6:
            raise BadInput(f"{what} frame {i} must be a list of 6 numbers")
        vals = []
        for v in row:
            if v is None and allow_null:
                vals.append(math.nan)
            elif isinstance(v, (int, float)) and math.isfinite(v):
                vals.append(float(v))
            else:
                raise BadInput(f"{what} frame {i} has a non-numeric value: {v!r}")
        rows.append(vals)
    arr = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return arr, fps, doc


def read_lips(path_or_doc: str | dict[str, Any]) -> tuple[np.ndarray, list[str], float, dict[str, Any]]:
    """Read a lips document → ((n, c) array, channels, fps, doc)."""
    doc = _load_json(path_or_doc, "lips")
    fps = _check_header(doc, LIPS_FORMAT, "lips")
    channels = doc.get("channels")
    if not isinstance(channels, list) or not channels or channels[0] != "mouth_open":
        raise BadInput("lips channels must be a list starting with mouth_open")
    try:
        arr = np.array(doc["frames"], dtype=np.float64).reshape(-1, len(channels))
    except (TypeError, ValueError):
        raise BadInput("lips frames must be lists of numbers, one per channel") from None
    if not np.all(np.isfinite(arr)):
        raise BadInput("lips frames contain non-finite values")
    if "viseme_weights" in doc:
        _check_viseme_weights(doc["viseme_weights"], len(arr))
    return arr, list(channels), fps, doc


def _check_viseme_weights(block: Any, n_frames: int) -> None:
    """The optional ``viseme_weights`` block: shape names and one row of weights (>= 0) per frame."""
    shapes = block.get("shapes") if isinstance(block, dict) else None
    if not isinstance(shapes, list) or not shapes or not all(isinstance(s, str) and s for s in shapes):
        raise BadInput("lips viseme_weights must name its shapes")
    try:
        weights = np.array(block.get("frames"), dtype=np.float64).reshape(-1, len(shapes))
    except (TypeError, ValueError):
        raise BadInput("lips viseme_weights frames must be lists of numbers, one per shape") from None
    if len(weights) != n_frames:
        raise BadInput(f"lips viseme_weights has {len(weights)} frames, the channels {n_frames}")
    if not np.all(np.isfinite(weights)) or weights.min(initial=0.0) < 0:
        raise BadInput("lips viseme_weights must be finite and not negative")
