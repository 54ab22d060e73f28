"""Add-on preferences: where the engine lives (its Python and project folder), the device and the cache folder.

Defaults come, in order, from the preferences, the ``POSETALK_ENGINE_PYTHON`` / ``POSETALK_ENGINE_ROOT``
environment variables, and ``engine_location.json`` written into the zip by ``scripts/build_extension.py``.
"""

from __future__ import annotations

import json
import os
import tempfile

import bpy

PACKAGE = __package__ or "posetalk"
_HERE = os.path.dirname(os.path.abspath(__file__))


def _baked() -> dict[str, str]:
    try:
        with open(os.path.join(_HERE, "engine_location.json"), encoding="utf-8") as fh:
            data = json.load(fh)
        return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def get() -> bpy.types.AddonPreferences | None:
    addon = bpy.context.preferences.addons.get(PACKAGE)
    return addon.preferences if addon else None


def engine_python() -> str:
    p = get()
    if p is not None and p.engine_python:
        return bpy.path.abspath(p.engine_python)
    return os.environ.get("POSETALK_ENGINE_PYTHON") or _baked().get("python", "")


def engine_root() -> str:
    p = get()
    if p is not None and p.engine_root:
        return os.path.normpath(bpy.path.abspath(p.engine_root))
    root = os.environ.get("POSETALK_ENGINE_ROOT") or _baked().get("root", "")
    if not root:  # running from a source checkout: addon/ sits in the project root
        parent = os.path.dirname(_HERE)
        root = parent if os.path.isfile(os.path.join(parent, "engine", "__init__.py")) else ""
    return root


def device() -> str:
    p = get()
    return p.device if p is not None else "auto"


def cache_dir() -> str:
    """The cache folder (created): preferences, else the extension's user folder, else a temporary folder."""
    p = get()
    if p is not None and p.cache_dir:
        path = bpy.path.abspath(p.cache_dir)
    else:
        try:
            path = os.path.join(bpy.utils.extension_path_user(PACKAGE, create=True), "cache")
        except (ValueError, RuntimeError, AttributeError):  # not installed as an extension
            path = os.path.join(tempfile.gettempdir(), "posetalk-cache")
    os.makedirs(path, exist_ok=True)
    return path


class PoseTalkPreferences(bpy.types.AddonPreferences):
    bl_idname = PACKAGE

    engine_python: bpy.props.StringProperty(
        name="Engine Python",
        description="Python interpreter of the PoseTalk engine (the project's .venv/bin/python). "
        "Empty: the location recorded when the extension was built",
        subtype="FILE_PATH",
    )
    engine_root: bpy.props.StringProperty(
        name="Engine Folder",
        description="The PoseTalk project folder that contains engine/. Empty: the recorded location",
        subtype="DIR_PATH",
    )
    device: bpy.props.EnumProperty(
        name="Device",
        description="Where the engine renders frames",
        items=[
            ("auto", "Auto", "CUDA when available, else CPU"),
            ("cpu", "CPU", "Always the CPU"),
            ("cuda", "CUDA", "An NVIDIA GPU"),
        ],
        default="auto",
    )
    cache_dir: bpy.props.StringProperty(
        name="Cache Folder",
        description="Where rendered frames, pose and lips files and the engine log go. "
        "Empty: the extension's user folder",
        subtype="DIR_PATH",
    )

    def draw(self, context: bpy.types.Context) -> None:
        from .engine_client import check_engine

        layout = self.layout
        col = layout.column()
        col.prop(self, "engine_python")
        if not self.engine_python:
            col.label(text=f"Using: {engine_python() or 'not set'}", icon="INFO")
        col.prop(self, "engine_root")
        if not self.engine_root:
            col.label(text=f"Using: {engine_root() or 'not set'}", icon="INFO")
        reason = check_engine(engine_python(), engine_root())
        if reason:
            col.label(text=reason, icon="ERROR")
        col.prop(self, "device")
        col.prop(self, "cache_dir")
        if not self.cache_dir:
            col.label(text=f"Using: {cache_dir()}", icon="INFO")
        from . import render_cache

        count, size = render_cache.usage()
        row = col.row()
        row.label(text=f"Rendered frames in the cache: {count} render(s), {render_cache.human_size(size)}")
        row.operator("posetalk.clear_render_cache", icon="TRASH")
        layout.operator("posetalk.stop_engine", icon="CANCEL")
