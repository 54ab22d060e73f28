"""Checking op parameters: numbers in a range, with one clear BadInput message each."""

from __future__ import annotations

import math
from typing import Any

from .errors import BadInput


def number(params: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    """``params[key]`` as a finite float in ``[lo, hi]`` (``default`` when absent or null)."""
    value = params.get(key, default)
    if value is None:
        return default
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise BadInput(f"{key} must be between {lo:g} and {hi:g}, got {value:g}")
    return value


def whole(params: dict[str, Any], key: str, default: int | None, lo: int, hi: int) -> int | None:
    """``params[key]`` as a whole number in ``[lo, hi]`` (``default`` when absent or null)."""
    value = params.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise BadInput(f"{key} must be a whole number, got {value!r}")
    if not lo <= int(value) <= hi:
        raise BadInput(f"{key} must be between {lo} and {hi}, got {int(value)}")
    return int(value)
