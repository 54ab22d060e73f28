"""Fixtures for the add-on tests: the real bpy module, the built extension zip installed through Blender's own
extension install, real espeak-ng speech, and a fresh scene per test.

bpy keeps global state, so every test starts from ``read_homefile(use_empty=True)`` (preferences, hence the
installed extension, survive it) and Blender's user folders live in a temporary folder for the session.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# bt_env first: it points Blender's user folders at a temporary folder before bpy loads
from bt_env import ENGINE_PYTHON, HAS_SOUND, NO_SOUND, ROOT, USER_RESOURCES, bpy, strips_of  # noqa: F401

MODULE = "bl_ext.user_default.posetalk"
SENTENCE = "The quick brown fox jumps over the lazy dog. Then it stops, looks around, and runs far away."


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--out", str(out), "--python", ENGINE_PYTHON]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    (zip_path,) = out.glob("posetalk-*.zip")
    return zip_path


@pytest.fixture(scope="session")
def installed(extension_zip: Path) -> str:
    """Install the zip with Blender's own extension installer; returns the add-on module name."""
    bpy.ops.wm.read_homefile(use_empty=True)
    result = bpy.ops.extensions.package_install_files(
        filepath=str(extension_zip), repo="user_default", enable_on_install=True
    )
    assert result == {"FINISHED"}
    assert MODULE in bpy.context.preferences.addons
    yield MODULE
    if MODULE in bpy.context.preferences.addons:
        bpy.ops.preferences.addon_disable(module=MODULE)
    shutil.rmtree(USER_RESOURCES, ignore_errors=True)


@pytest.fixture
def addon(installed: str):
    """The installed add-on package (its modules: ``addon.rig``, ``addon.curves`` ...), with a fresh scene."""
    if installed not in bpy.context.preferences.addons:
        bpy.ops.preferences.addon_enable(module=installed)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.ed.undo_push(message="start")  # background mode starts with undo off
    pkg = sys.modules[installed]
    prefs = bpy.context.preferences.addons[installed].preferences
    prefs.engine_python = ""
    prefs.engine_root = ""
    prefs.cache_dir = str(USER_RESOURCES / "cache")
    yield pkg
    pkg.runner.current = None


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="session")
def espeak(audio_dir: Path) -> Callable[..., Path]:
    """Factory: real espeak-ng speech → wav path (cached)."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (make setup installs it)")

    def make(text: str = SENTENCE, voice: str = "en", rate: int = 160) -> Path:
        key = hashlib.sha1(f"{text}|{voice}|{rate}".encode()).hexdigest()[:12]
        out = audio_dir / f"speech-{key}.wav"
        if not out.exists():
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(out), text], check=True)
        return out

    return make


@pytest.fixture(scope="session")
def speech_wav(espeak: Callable[..., Path]) -> Path:
    return espeak()


@pytest.fixture(scope="session")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled portrait (examples/portrait.png); a drawn stand-in while it does not exist yet."""
    bundled = ROOT / "examples" / "portrait.png"
    if bundled.exists():
        return bundled
    path = tmp_path_factory.mktemp("img") / "portrait.png"
    w, h = 384, 512
    img = bpy.data.images.new("stand-in", w, h, alpha=True)
    px = []
    for y in range(h):
        for x in range(w):
            inside = ((x - w / 2) / 110) ** 2 + ((y - h * 0.6) / 150) ** 2 < 1
            px += [0.9, 0.7, 0.6, 1.0] if inside else [0.2, 0.3, 0.5, 1.0]
    img.pixels = px
    img.filepath_raw = str(path)
    img.file_format = "PNG"
    img.save()
    bpy.data.images.remove(img)
    return path


@pytest.fixture
def scene_with_speech(addon, speech_wav: Path):
    """A scene at 24 fps with the speech as a sound strip placed at frame 37, trimmed by 12 frames at the start
    and 10 at the end."""
    if not HAS_SOUND:
        pytest.skip(NO_SOUND)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    strip = strips_of(scene).new_sound("speech", str(speech_wav), 1, 37)
    strip.frame_offset_start = 12
    strip.frame_offset_end = 10
    return scene, strip


@pytest.fixture
def engine_started(addon):
    """The add-on's real worker, started and ready (its ready line arrived); returns the client."""
    import time

    client = addon.runner.client()
    if not client.alive():
        client.start()
    deadline = time.monotonic() + 300
    while client.hello is None:
        if not client.alive() or time.monotonic() > deadline:
            pytest.fail(f"the engine did not start: {client.log_tail()}")
        time.sleep(0.05)
    return client
