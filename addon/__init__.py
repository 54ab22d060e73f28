"""PoseTalk for Blender: a portrait, a sound strip and a prompt → an editable, lip-synced talking head.

Blender side only (bpy and the standard library); the PyTorch engine runs in its own process
(``python -m engine serve``) and talks JSON lines with ``runner``/``engine_client``. The layout is described
in the project's docs/architecture.md.
"""

from __future__ import annotations

import bpy

from . import operators, prefs, props, render_cache, runner, ui

_classes = (
    prefs.PoseTalkPreferences,
    props.PoseTalkMappingRow,
    props.PoseTalkObjectSettings,
    props.PoseTalkSceneSettings,
    *operators.classes,
    *ui.classes,
)


def register() -> None:
    for cls in _classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.posetalk = bpy.props.PointerProperty(type=props.PoseTalkSceneSettings)
    bpy.types.Object.posetalk = bpy.props.PointerProperty(
        type=props.PoseTalkObjectSettings, override={"LIBRARY_OVERRIDABLE"}
    )
    render_cache.register()


def unregister() -> None:
    runner.stop_engine()
    runner.current = None
    render_cache.unregister()
    del bpy.types.Object.posetalk
    del bpy.types.Scene.posetalk
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
