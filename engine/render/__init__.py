"""Rendering: portrait + pose curves + mouth curves → video frames (CoarseNet warp, RefineNet mouth and eyes)."""

from .renderer import Renderer, get_renderer, pick_device

__all__ = ["Renderer", "get_renderer", "pick_device"]
