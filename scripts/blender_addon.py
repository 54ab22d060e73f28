"""The add-on inside the bpy module for a script: this repository built as an extension zip and installed with
Blender's own installer into a temporary Blender user folder (as a user installs it), then enabled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
MODULE = "bl_ext.user_default.posetalk"


def install_addon(tmp: Path) -> ModuleType:
    """Build and install the add-on with ``tmp`` as Blender's user folder (set before bpy is first imported);
    returns the add-on's package (``pkg.rig``, ``pkg.runner`` ...) with an empty scene loaded."""
    os.environ["BLENDER_USER_RESOURCES"] = str(tmp / "user")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--out", str(tmp)], check=True,
                   capture_output=True)  # fmt: skip
    import bpy  # noqa: PLC0415 (after BLENDER_USER_RESOURCES)

    bpy.ops.wm.read_homefile(use_empty=True)
    (zip_path,) = tmp.glob("posetalk-*.zip")
    result = bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                                      enable_on_install=True)  # fmt: skip
    if result != {"FINISHED"} or MODULE not in sys.modules:
        raise RuntimeError("the PoseTalk add-on could not be installed in Blender")
    return sys.modules[MODULE]
