"""Shared set-up of the add-on tests (a uniquely named module, so ``tests/`` and ``blender_tests/`` can be
collected in one pytest run): Blender's user folders in a temporary folder, set before bpy is imported, and
the engine's Python."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USER_RESOURCES = Path(tempfile.mkdtemp(prefix="posetalk-blender-user-"))
os.environ["BLENDER_USER_RESOURCES"] = str(USER_RESOURCES)  # before bpy is imported
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# the engine runs from the project's venv, whatever Python runs bpy (the 4.5 venv has no torch)
ENGINE_PYTHON = os.environ.get("POSETALK_ENGINE_PYTHON") or str(ROOT / ".venv" / "bin" / "python")

import bpy  # noqa: E402
import pytest  # noqa: E402

# the add-on's one module of version differences, loaded from the source before the extension is installed
_spec = importlib.util.spec_from_file_location("posetalk_compat", ROOT / "addon" / "compat.py")
compat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compat)

# the bpy 4.2 wheels are built without Audaspace: no sound strips, so the tests that need one are skipped there
HAS_SOUND = compat.HAS_SOUND
NO_SOUND = f"bpy {bpy.app.version_string} is built without Audaspace (no sound strips)"
needs_sound = pytest.mark.skipif(not HAS_SOUND, reason=NO_SOUND)


def strips_of(scene: bpy.types.Scene):
    """The scene's top-level strips (a sequence editor is made when missing)."""
    return compat.strips(scene, create=True)


def snapshot(obj: bpy.types.Object, curves) -> list:
    """Every key of the object's PoseTalk curves (position, handles, type): for exact comparisons."""
    fcs = curves.find_fcurves(obj)
    if fcs is None:
        return []
    return [
        (
            fc.data_path,
            fc.array_index,
            [(*kp.co, *kp.handle_left, *kp.handle_right, kp.type) for kp in fc.keyframe_points],
        )
        for fc in fcs
    ]
