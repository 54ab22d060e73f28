"""The extension as a user gets it: the zip built by scripts/build_extension.py, installed with Blender's own
extension installer, enabled and disabled twice without leaks, and a headless batch script run like
``blender -b --python`` through the bpy module in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import bpy
import pytest
from bt_env import ENGINE_PYTHON, ROOT, USER_RESOURCES, needs_sound

HERE = Path(__file__).resolve().parent


def test_zip_layout_and_manifest(extension_zip):
    with zipfile.ZipFile(extension_zip) as zf:
        names = set(zf.namelist())
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
        location = json.loads(zf.read("engine_location.json"))
    assert {"blender_manifest.toml", "__init__.py", "engine_location.json"} <= names
    sources = {p.relative_to(ROOT / "addon").as_posix() for p in (ROOT / "addon").rglob("*.py")}
    assert names - {"blender_manifest.toml", "engine_location.json"} == sources  # the package at the zip root
    assert "operators/__init__.py" in names
    assert manifest["id"] == "posetalk" and manifest["type"] == "add-on"
    assert extension_zip.name == f"posetalk-{manifest['version']}.zip"
    assert tuple(int(x) for x in manifest["blender_version_min"].split(".")) <= (4, 2, 0)
    assert set(manifest["permissions"]) == {"files"} and manifest["permissions"]["files"]
    assert location["python"] == ENGINE_PYTHON and Path(location["root"]) == ROOT
    for name in names - {"blender_manifest.toml", "engine_location.json"}:  # bpy + stdlib only
        text = (ROOT / "addon" / name).read_text()
        assert "import torch" not in text and "import numpy" not in text


def _handler_counts() -> dict[str, int]:
    return {name: len(getattr(bpy.app.handlers, name)) for name in dir(bpy.app.handlers) if not name.startswith("_")
            and isinstance(getattr(bpy.app.handlers, name), list)}  # fmt: skip


def _addon_handlers(module: str) -> list[str]:
    """Application handlers of the add-on's modules still registered."""
    return [f"{name}:{fn.__name__}" for name in dir(bpy.app.handlers) if not name.startswith("_")
            and isinstance(getattr(bpy.app.handlers, name), list)
            for fn in getattr(bpy.app.handlers, name) if getattr(fn, "__module__", "").startswith(module)]  # fmt: skip


def test_register_and_unregister_twice_without_leaks(addon, installed, speech_wav):
    handlers = _handler_counts()  # with the add-on enabled (its own handlers included)
    own = len(_addon_handlers(installed))
    assert own > 0  # the render cache watches load and save
    job = addon.runner.wait(addon.runner.start("pose", {"audio": str(speech_wav), "prompt": "nods", "fps": 25}, "t"))
    assert job.state == "done"
    pid = addon.runner._client.pid
    for _ in range(2):
        bpy.ops.preferences.addon_disable(module=installed)
        assert not hasattr(bpy.types.Scene, "posetalk") and not hasattr(bpy.types.Object, "posetalk")
        with pytest.raises(AttributeError, match="could not be found"):
            bpy.ops.posetalk.generate_motion.poll()
        assert "POSETALK_OT_generate_motion" not in dir(bpy.types)
        assert _addon_handlers(installed) == []  # all of its handlers went with it, nothing else changed
        assert sum(_handler_counts().values()) == sum(handlers.values()) - own
        with pytest.raises(ProcessLookupError):  # the engine went with the add-on
            os.kill(pid, 0)
        bpy.ops.preferences.addon_enable(module=installed)
        assert hasattr(bpy.types.Scene, "posetalk") and "POSETALK_OT_generate_motion" in dir(bpy.types)
        assert _handler_counts() == handlers
        pkg = sys.modules[installed]
        job = pkg.runner.wait(pkg.runner.start("pose", {"audio": str(speech_wav), "prompt": "nods", "fps": 25}, "t"))
        assert job.state == "done"
        pid = pkg.runner._client.pid


def _run_batch(args: list[str], tmp_path: Path, script: Path = HERE / "batch_script.py") -> subprocess.CompletedProcess:
    """``blender -b --python-exit-code 1 --python SCRIPT -- ARGS``, with Blender as the bpy module."""
    code = (
        "import runpy, sys; sys.argv = ['blender', '-b', '--python', sys.argv[1], '--', *sys.argv[2:]]; "
        "import bpy; runpy.run_path(sys.argv[3], run_name='__main__')"
    )
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(USER_RESOURCES), POSETALK_ENGINE_PYTHON=ENGINE_PYTHON)
    return subprocess.run(
        [sys.executable, "-c", code, str(script), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@needs_sound
def test_headless_batch_script(installed, engine_started, speech_wav, portrait, tmp_path):
    out = tmp_path / "talk.blend"
    args = ["--image", str(portrait), "--audio", str(speech_wav), "--prompt", "shakes the head", "--out", str(out)]
    args.append("--lips")
    done = _run_batch([*args, "--start", "37"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.exists() and "keys/s" in done.stdout
    failed = _run_batch(
        ["--image", str(tmp_path / "missing.png"), "--audio", str(speech_wav), "--out", str(out)], tmp_path
    )
    assert failed.returncode == 1
    assert "image not found" in failed.stderr


@needs_sound
def test_ui_check_script_headless_half(installed, engine_started, tmp_path):
    """scripts/ui_check.py (the windowed check of the Sequencer strip) runs its steps blocking without a window."""
    done = _run_batch(["--frames", "30", "--size", "64"], tmp_path, ROOT / "scripts" / "ui_check.py")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("ui_check: "))
    row = json.loads(line.removeprefix("ui_check: "))
    assert row["ok"] and row["background"] and row["screenshot"] is None
    (img,) = row["images"]
    assert img["channel"] > row["sound"]["channel"] and img["frames"] == row["sound"]["frames"] == 30
    assert set(row["seconds"]) == {"generate_motion", "generate_lipsync", "render_frames"}
