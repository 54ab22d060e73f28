"""A character's mouth table: which shape key, drawing, layer or action each lip-sync source drives.

Sources are the lips document's channels (``mouth_open``, ``mouth_wide``, ``mouth_round``, ``lips_closed``,
and ``blink`` when asked for) and its per-frame viseme weights (shapes ``A``-``H`` and ``X``, the rest). A
table row says ``target += factor × source``; shape keys take the sum, clipped to 0..1. Drawings and actions
show one shape at a time: each frame's heaviest viseme, held at least ``hold`` frames, through the rows whose
source is that shape (or a similar shape's when it has none, see ``FALLBACKS``).

The presets are starting points written for this project (edit the table in the panel): ARKit's blend shapes,
Meta's (Oculus) 15 visemes, and Rhubarb Lip Sync's mouth shapes. Targets are found by name, forgiving case,
separators, a prefix ('viseme_PP', 'Face.jawOpen') and side suffixes ('mouthSmile_L' = 'mouthSmileLeft').
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .errors import UserError

CHANNEL_SOURCES = ("mouth_open", "mouth_wide", "mouth_round", "lips_closed", "blink")
SHAPES = ("A", "B", "C", "D", "E", "F", "G", "H", "X")  # the lips track's visemes, X the rest
SOURCES = CHANNEL_SOURCES + SHAPES
SHAPE_KEY_MODES = ("ARKIT", "OCULUS", "RHUBARB", "CUSTOM")
STEPPED_MODES = ("ACTIONS", "GP_LAYERS", "GP_FRAMES", "IMAGES")
# a shape without a drawing or action shows the first of these that has one
FALLBACKS = {"A": "X", "B": "CA", "C": "BD", "D": "CB", "E": "CD", "F": "EC", "G": "BA", "H": "CB", "X": "A"}

PRESETS: dict[str, list[tuple[str, str, float]]] = {
    "ARKIT": [
        ("jawOpen", "mouth_open", 1.0),
        ("mouthClose", "A", 0.25),
        ("mouthPressLeft", "A", 0.5),
        ("mouthPressRight", "A", 0.5),
        ("mouthFunnel", "E", 0.7),
        ("mouthFunnel", "F", 0.2),
        ("mouthPucker", "F", 0.9),
        ("mouthStretchLeft", "mouth_wide", 0.4),
        ("mouthStretchRight", "mouth_wide", 0.4),
        ("mouthSmileLeft", "B", 0.25),
        ("mouthSmileRight", "B", 0.25),
        ("mouthRollLower", "G", 0.6),
        ("mouthUpperUpLeft", "G", 0.3),
        ("mouthUpperUpRight", "G", 0.3),
        ("mouthLowerDownLeft", "D", 0.3),
        ("mouthLowerDownRight", "D", 0.3),
        ("eyeBlinkLeft", "blink", 1.0),
        ("eyeBlinkRight", "blink", 1.0),
    ],
    "OCULUS": [
        ("sil", "X", 1.0),
        ("PP", "A", 1.0),
        ("FF", "G", 1.0),
        ("TH", "B", 0.1),
        ("DD", "B", 0.25),
        ("kk", "B", 0.15),
        ("CH", "B", 0.15),
        ("SS", "B", 0.25),
        ("nn", "H", 1.0),
        ("RR", "E", 0.3),
        ("aa", "D", 1.0),
        ("aa", "C", 0.4),
        ("E", "C", 0.6),
        ("I", "B", 0.1),
        ("O", "E", 0.7),
        ("U", "F", 1.0),
    ],
    "RHUBARB": [(s, s, 1.0) for s in SHAPES],
}
PRESETS["ACTIONS"] = PRESETS["GP_LAYERS"] = PRESETS["RHUBARB"]


# names ---------------------------------------------------------------------------------------------------------
def _norm(name: str) -> str:
    s = re.sub(r"[^0-9a-z]", "", name.lower())
    return re.sub(r"(left|right)$", lambda m: m.group(1)[0], s)


def _tokens(name: str) -> list[str]:
    return re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name)


def find_name(wanted: str, names: Iterable[str]) -> str | None:
    """The name in ``names`` that means ``wanted``: exact, then ignoring case, separators and side spelling,
    then after a prefix ('Face.jawOpen', 'viseme_PP', 'mouth_A')."""
    names = list(names)
    if wanted in names:
        return wanted
    w = _norm(wanted)
    for rule in (
        lambda n: _norm(n) == w,
        lambda n: _norm(re.split(r"[.:]", n)[-1]) == w,
        lambda n: bool(_tokens(n)) and _norm(_tokens(n)[-1]) == w and len(_tokens(n)) > 1,
    ):
        found = [n for n in names if rule(n)]
        if found:
            return found[0]
    return None


# the table -----------------------------------------------------------------------------------------------------
def parse_mapping(text: str) -> list[tuple[str, str, float]]:
    """A mapping given as JSON: ``{"jawOpen": "mouth_open", "Smile": {"B": 0.3, "mouth_wide": 0.2}}`` (a
    drawing or action per shape: ``{"1": "A", "2": "B"}``). Raises UserError on anything else."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"the mapping is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise UserError('the mapping must be a JSON object, e.g. {"jawOpen": "mouth_open"}')
    rows: list[tuple[str, str, float]] = []
    for target, spec in data.items():
        if isinstance(spec, str):
            rows.append((str(target), spec, 1.0))
        elif isinstance(spec, dict) and all(
            isinstance(f, (int, float)) and not isinstance(f, bool) for f in spec.values()
        ):
            rows += [(str(target), str(source), float(f)) for source, f in spec.items()]
        else:
            raise UserError(f"mapping of {target!r} must be a source name or {{source: factor}}, got {spec!r}")
    return rows


def check_sources(rows: Sequence[tuple[str, str, float]], stepped: bool) -> None:
    """Every row names a known source (only viseme shapes for drawings and actions)."""
    allowed = SHAPES if stepped else SOURCES
    for target, source, _f in rows:
        if source not in allowed:
            kind = "drawings and actions switch per viseme shape: use" if stepped else "use one of"
            raise UserError(f"unknown source {source!r} for {target!r}: {kind} {', '.join(allowed)}")


def resolve(
    mode: str, rows: Sequence[tuple[str, str, float]], available: Sequence[str], what: str, strict: bool
) -> tuple[list[tuple[str, str, float]], list[str]]:
    """The rows whose target exists (its name as the object spells it) and the targets that do not. ``strict``
    (a table the animator wrote): a missing target is an error. An empty result is always an error."""
    check_sources(rows, mode in STEPPED_MODES)
    out, missing = [], []
    for target, source, factor in rows:
        name = target if target in available else find_name(target, available)
        if name is None:
            if strict:
                have = ", ".join(list(available)[:12]) or "none"
                raise UserError(f"no {target!r} among {what} (there are: {have})")
            if target not in missing:
                missing.append(target)
            continue
        out.append((name, source, factor))
    if not out:
        wanted = ", ".join(dict.fromkeys(t for t, _s, _f in rows)) or "nothing"
        raise UserError(f"the {mode} mapping maps nothing on {what}: it has none of {wanted[:200]}")
    return out, missing


def ordered_rows(targets: Sequence[str]) -> list[tuple[str, str, float]]:
    """Drawings given by number: the shapes A, B, ... X on the first, second, ... drawing."""
    return [(t, s, 1.0) for t, s in zip(targets, SHAPES)]


# per-frame values ----------------------------------------------------------------------------------------------
def sources_of(doc: dict[str, Any], n: int) -> dict[str, list[float]]:
    """Each source's values for the first ``n`` frames of a lips document."""
    frames = doc.get("frames") or []
    out = {str(c): [float(frames[i][k]) for i in range(n)] for k, c in enumerate(doc.get("channels") or [])}
    block = doc.get("viseme_weights") or {}
    rows = block.get("frames") or []
    for k, shape in enumerate(block.get("shapes") or []):
        if len(rows) >= n:
            out[str(shape)] = [float(rows[i][k]) for i in range(n)]
    return out


def mixed(rows: Sequence[tuple[str, str, float]], sources: dict[str, list[float]], n: int) -> dict[str, list[float]]:
    """Each target's value per frame: the sum of factor × source over its rows, clipped to 0..1."""
    out: dict[str, list[float]] = {}
    for target, source, factor in rows:
        if source not in sources:
            raise UserError(f"the engine's lips carry no {source!r} (needed by {target!r})")
        acc = out.setdefault(target, [0.0] * n)
        values = sources[source]
        for i in range(n):
            acc[i] += factor * values[i]
    return {t: [min(1.0, max(0.0, v)) for v in vals] for t, vals in out.items()}


def dominant_shapes(sources: dict[str, list[float]], n: int, hold: int) -> list[str]:
    """The heaviest viseme of every frame; a shape that starts stays at least ``hold`` frames."""
    if not all(s in sources for s in SHAPES):
        raise UserError("the engine's lips carry no viseme weights: update the engine")
    raw = [max(SHAPES, key=lambda s, i=i: sources[s][i]) for i in range(n)]
    out: list[str] = []
    i = 0
    while i < n:
        j = i
        while j < n and raw[j] == raw[i]:
            j += 1
        end = max(j, min(n, i + max(1, hold)))  # a short shape takes the first frames of the next one
        out += [raw[i]] * (end - i)
        i = end
    return out


def stepped_targets(rows: Sequence[tuple[str, str, float]], shapes: Sequence[str]) -> list[str | None]:
    """The target shown on each frame (the first row of its shape, else of a fallback shape; None: no row)."""
    first: dict[str, str] = {}
    for target, source, _f in rows:
        first.setdefault(source, target)

    def pick(shape: str) -> str | None:
        for s in shape + FALLBACKS.get(shape, ""):
            if s in first:
                return first[s]
        return next(iter(first.values()), None)

    table = {s: pick(s) for s in SHAPES}
    return [table[s] for s in shapes]


def needs_blinks(rows: Iterable[Any]) -> bool:
    return any((r[1] if isinstance(r, tuple) else r.source) == "blink" for r in rows)
