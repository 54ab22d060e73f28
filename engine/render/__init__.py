"""Rendering: portrait + pose curves + mouth curves → video frames (CoarseNet warp, RefineNet mouth and eyes)."""

from .renderer import Renderer, pick_device

__all__ = ["Renderer", "pick_device"]
