"""Rendering: portrait + pose curves + mouth curves → video frames (CoarseNet warp, RefineNet mouth and eyes).

The renderer (and torch with it) loads on first use, so the face and landmark modules serve capture without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .renderer import Renderer, get_renderer, pick_device

__all__ = ["Renderer", "get_renderer", "pick_device"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import renderer  # noqa: PLC0415

        return getattr(renderer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
