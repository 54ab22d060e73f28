"""One batch row's .blend, built by Blender itself through the add-on's own operators (run by the batch's
``--blend`` step, one process per row; bpy and the stdlib only).

    python scripts/blend_row.py SPEC.json                       (a Python with the bpy module)
    blender -b --factory-startup --python-exit-code 1 --python scripts/blend_row.py -- SPEC.json

SPEC: ``{"id", "image", "audio", "pose", "lips", "out", "engine_python", "params", "saved_paths"}``. The add-on
of this repository is built into an extension zip and installed with Blender's own installer (into the Blender
user folder the caller set with BLENDER_USER_RESOURCES); the scene gets the row's sound as a strip at the
pose.json's frame rate, ``posetalk.create_rig`` builds the talking head, the row's prompt, seed and options go
into the PoseTalk settings and its dialogue onto the head, ``posetalk.load_motion`` lands pose.json and lips.json
as the generated, editable keys, and the file is saved under ``out`` (the batch renames it into place). The
image and the sound refer to the files the manifest names (``saved_paths``), even when this node read copies.
Any failure: one line ``error: ...`` on stderr and exit status 1 (2 when the spec itself is bad).
"""

import importlib
import importlib.util
import json
import os
import sys
import tempfile

import bpy

MODULE = "bl_ext.user_default.posetalk"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAD_SETTINGS = {"text": "dialogue", "language": "language"}  # row param → the head's own setting


def _fail(message: str, status: int = 1) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    sys.exit(status)


def _install_addon(engine_python: str) -> None:
    """This repository's add-on, built and installed as an extension (as a user installs it), then enabled."""
    spec = importlib.util.spec_from_file_location(
        "build_extension", os.path.join(ROOT, "scripts", "build_extension.py")
    )
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="posetalk-blend-zip-") as folder:
        zip_path = builder.build(Path(folder), engine_python, Path(ROOT))
        result = bpy.ops.extensions.package_install_files(
            filepath=str(zip_path), repo="user_default", enable_on_install=True
        )
    if result != {"FINISHED"} or MODULE not in bpy.context.preferences.addons:
        _fail("the PoseTalk add-on could not be installed in Blender")


def _fps(fps: float) -> tuple[int, float]:
    """Blender's fps and fps_base for a rate (29.97 → 30 / 1.001)."""
    whole = max(1, round(fps))
    return whole, whole / fps


def build(spec: dict) -> None:
    """The row's scene, saved as ``spec["out"]``."""
    bpy.ops.wm.read_homefile(use_empty=True)
    compat = importlib.import_module(MODULE + ".compat")
    settings = importlib.import_module(MODULE + ".settings")
    with open(spec["pose"], encoding="utf-8") as fh:
        fps = float(json.load(fh)["fps"])
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = _fps(fps)
    sound = compat.strips(scene, create=True).new_sound(spec["id"], spec["audio"], 1, 1)
    scene.frame_start, scene.frame_end = sound.frame_final_start, sound.frame_final_end - 1
    params = spec.get("params") or {}
    by_engine_name = {(op, name): setting for setting, (op, name) in settings.ENGINE_PARAMS.items()}
    for name, value in params.items():  # the row's options become the panel's settings (for regenerating)
        setting = by_engine_name.get(("pose", name)) or by_engine_name.get(("render", name))
        if setting is not None and value is not None:
            setattr(scene.posetalk, setting, value)
    bpy.ops.posetalk.create_rig(image_path=spec["image"], strip=sound.name, name=spec["id"])
    head = scene.posetalk.rig
    for name, setting in HEAD_SETTINGS.items():
        if params.get(name) is not None:
            setattr(head.posetalk, setting, params[name])
    bpy.ops.posetalk.load_motion(rig=head.name, pose_path=spec["pose"], lips_path=spec["lips"])
    saved = spec.get("saved_paths") or {}
    if saved.get("audio") and saved["audio"] != spec["audio"]:
        sound.sound.filepath = saved["audio"]
    if saved.get("image") and saved["image"] != spec["image"]:
        for image in bpy.data.images:
            if image.filepath and os.path.abspath(bpy.path.abspath(image.filepath)) == os.path.abspath(spec["image"]):
                image.filepath = saved["image"]
    bpy.ops.wm.save_as_mainfile(filepath=spec["out"], relative_remap=False, compress=True)


def main() -> None:
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    if len(argv) != 1:
        _fail("usage: blend_row.py SPEC.json", 2)
    try:
        with open(argv[0], encoding="utf-8") as fh:
            spec = json.load(fh)
    except (OSError, ValueError) as exc:
        _fail(f"cannot read the spec {argv[0]}: {exc}", 2)
    if not os.environ.get("BLENDER_USER_RESOURCES"):
        _fail("BLENDER_USER_RESOURCES must name a folder for the add-on (the batch sets it)", 2)
    try:
        _install_addon(spec["engine_python"])
        build(spec)
    except RuntimeError as exc:  # an operator's error report
        _fail(" ".join(str(exc).removeprefix("Error: ").split()))


main()
