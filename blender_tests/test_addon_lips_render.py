"""generate_lipsync and render_frames through the real worker: mouth curves on the rig, the curves read back as
Blender evaluates them (animator edits included), the image strip above the sound strip, and the sequencer
rendered to MP4 headless."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import bpy
import pytest

PROMPT = "nods while talking"
N_FRAMES = 36  # a short strip keeps the render quick


@pytest.fixture
def short_rig(addon, scene_with_speech, portrait):
    scene, strip = scene_with_speech
    strip.frame_offset_end = strip.frame_duration - 12 - N_FRAMES
    assert strip.frame_final_duration == N_FRAMES
    assert bpy.ops.posetalk.create_rig(image_path=str(portrait)) == {"FINISHED"}
    return scene, strip, scene.posetalk.rig


def test_lipsync_writes_sparse_mouth_curves(short_rig, engine_started, addon):
    scene, strip, head = short_rig
    assert bpy.ops.posetalk.generate_lipsync(strength=1.0) == {"FINISHED"}
    fcs = addon.curves.find_fcurves(head)
    seconds = N_FRAMES / (scene.render.fps / scene.render.fps_base)
    for channel in ("mouth_open", "mouth_wide", "mouth_round", "lips_closed"):
        fc = fcs.find(f'["{channel}"]')
        assert fc is not None, channel
        frames = [kp.co.x for kp in fc.keyframe_points]
        assert min(frames) == strip.frame_final_start and max(frames) == strip.frame_final_end - 1
        assert all(kp.type == "GENERATED" for kp in fc.keyframe_points)
        assert len(frames) < N_FRAMES  # sparse
        values = [fc.evaluate(f) for f in range(strip.frame_final_start, strip.frame_final_end)]
        assert min(values) >= -0.05 and max(values) <= 1.05
        ui = head.id_properties_ui(channel).as_dict()
        assert (ui["min"], ui["max"]) == (0.0, 1.0)
    mouth = fcs.find('["mouth_open"]')
    assert max(mouth.evaluate(f) for f in range(strip.frame_final_start, strip.frame_final_end)) > 0.2, (
        "speech opens it"
    )
    assert len(mouth.keyframe_points) <= 0.75 * N_FRAMES  # sparser than one key per frame (syllables are fast)
    assert seconds > 0
    # a weaker lips strength gives a smaller opening
    peak = max(mouth.evaluate(f) for f in range(strip.frame_final_start, strip.frame_final_end))
    assert bpy.ops.posetalk.generate_lipsync(strength=0.3) == {"FINISHED"}
    weak = max(mouth.evaluate(f) for f in range(strip.frame_final_start, strip.frame_final_end))
    assert weak < peak


def test_render_reads_back_edited_curves(short_rig, addon):
    scene, strip, head = short_rig
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=4) == {"FINISHED"}
    fcs = addon.curves.find_fcurves(head)
    yaw = fcs.find("rotation_euler", index=1)
    edit = strip.frame_final_start + 20
    yaw.keyframe_points.insert(edit, math.radians(15.0), keyframe_type="KEYFRAME")  # the animator's edit
    head["mouth_open"] = 0.0
    mouth = addon.curves.ensure_fcurve(fcs, '["mouth_open"]')
    mouth.keyframe_points.insert(edit, 0.8, keyframe_type="KEYFRAME")
    timing = addon.sequencer.strip_timing(scene, strip)
    frame_before = scene.frame_current
    pose, lips = addon.operators.render.sample_curves(bpy.context, head, timing)
    assert scene.frame_current == frame_before
    assert pose["format"] == "posetalk.pose/1" and len(pose["frames"]) == N_FRAMES
    assert pose["frames"][20][1] == pytest.approx(15.0, abs=1e-3)
    pitch = yaw.id_data  # noqa: F841 (the action)
    assert pose["frames"][5][0] == pytest.approx(
        -math.degrees(fcs.find("rotation_euler").evaluate(timing["first_frame"] + 5)), abs=1e-3
    )
    assert lips["channels"][0] == "mouth_open" and lips["frames"][20][0] == pytest.approx(0.8, abs=1e-4)


def _render_strips(scene: bpy.types.Scene, addon) -> list:
    return [s for s in addon.compat.all_strips(scene) if s.type == "IMAGE" and s.get("posetalk_rig")]


def test_render_frames_adds_one_strip_above_the_sound(short_rig, engine_started, addon, tmp_path):
    scene, strip, head = short_rig
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=4) == {"FINISHED"}
    assert bpy.ops.posetalk.generate_lipsync() == {"FINISHED"}
    assert bpy.ops.posetalk.render_frames(size=128) == {"FINISHED"}
    (img,) = _render_strips(scene, addon)
    assert img.channel > strip.channel
    assert img.frame_final_start == strip.frame_final_start
    assert img.frame_final_duration == N_FRAMES == len(img.elements)
    fit = min(scene.render.resolution_x / 128, scene.render.resolution_y / 128)  # scaled to fit the frame
    assert img.transform.scale_x == pytest.approx(fit) and img.transform.scale_y == pytest.approx(fit)
    folder = Path(bpy.path.abspath(img.directory))
    files = sorted(folder.glob("frame_*.png"))
    assert len(files) == N_FRAMES and files[0].name == "frame_00001.png"
    first_dir = folder

    # re-rendering replaces the strip, never duplicates it
    assert bpy.ops.posetalk.render_frames(size=128) == {"FINISHED"}
    (img2,) = _render_strips(scene, addon)
    assert img2.channel == img.channel if img2 else False
    assert Path(bpy.path.abspath(img2.directory)) != first_dir

    # the sequencer renders to MP4 headless: the strip plays in sync with the sound
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed")
    r = scene.render
    r.resolution_x = r.resolution_y = 128
    r.resolution_percentage = 100
    addon.compat.set_video_output(r)
    scene.frame_start, scene.frame_end = strip.frame_final_start, strip.frame_final_end - 1
    r.filepath = str(tmp_path / "talk_")
    bpy.ops.render.render(animation=True)
    (video,) = tmp_path.glob("talk_*.mp4")
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_type,nb_read_frames", "-of", "csv=p=0",
         str(video)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    streams = dict(line.split(",") for line in probe.stdout.split() if "," in line)
    assert int(streams.get("video", 0)) == N_FRAMES and "audio" in probe.stdout
    assert os.path.getsize(video) > 1000
    if os.environ.get("POSETALK_KEEP"):  # for looking at it
        shutil.copy(video, os.environ["POSETALK_KEEP"])


def _strip_dir(scene: bpy.types.Scene, addon) -> Path:
    (img,) = _render_strips(scene, addon)
    return Path(bpy.path.abspath(img.directory)).resolve()  # saved files store relative paths


def test_re_rendering_prunes_old_cache_renders_but_keeps_one_undo_step(short_rig, engine_started, addon, tmp_path):
    scene, strip, head = short_rig
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=4) == {"FINISHED"}
    cache = addon.render_cache
    root = Path(cache.render_root())
    # a render marked by another .blend file (a copy saved elsewhere may show it) and a folder that is not a
    # render of ours: re-renders never delete either
    other, plain = root / "from-another-file", root / "not-a-render"
    for folder in (other, plain):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "frame_00001.png").write_bytes(b"x" * 10)
    marker = {"head": head.name, "blend": "/elsewhere/other.blend", "time": 1.0}
    (other / cache.MARKER).write_text(json.dumps(marker))
    bpy.ops.ed.undo_push(message="motion")

    dirs = []
    for _ in range(2):
        assert bpy.ops.posetalk.render_frames("EXEC_DEFAULT", True, size=64) == {"FINISHED"}
        dirs.append(_strip_dir(bpy.context.scene, addon))
    assert all(d.is_dir() for d in dirs)
    bpy.ops.ed.undo()  # one step back: the previous strip, and its frames are still there
    assert _strip_dir(bpy.context.scene, addon) == dirs[0]
    assert len(list(dirs[0].glob("frame_*.png"))) == N_FRAMES
    bpy.ops.ed.redo()
    assert _strip_dir(bpy.context.scene, addon) == dirs[1]

    assert bpy.ops.posetalk.render_frames(size=64) == {"FINISHED"}
    dirs.append(_strip_dir(bpy.context.scene, addon))
    assert not dirs[0].exists(), "the render two steps back is deleted"
    assert dirs[1].is_dir() and dirs[2].is_dir() and other.is_dir() and plain.is_dir()

    # what the saved .blend shows survives re-renders, so Revert finds its frames
    blend = tmp_path / "talk.blend"
    assert bpy.ops.wm.save_as_mainfile(filepath=str(blend)) == {"FINISHED"}
    for _ in range(2):
        assert bpy.ops.posetalk.render_frames(size=64) == {"FINISHED"}
        dirs.append(_strip_dir(bpy.context.scene, addon))
    assert not dirs[1].exists() and dirs[2].is_dir() and dirs[3].is_dir() and dirs[4].is_dir()
    assert bpy.ops.wm.revert_mainfile() == {"FINISHED"}
    assert _strip_dir(bpy.context.scene, addon) == dirs[2]
    assert len(list(dirs[2].glob("frame_*.png"))) == N_FRAMES

    # frames rendered into the animator's own folder are never deleted
    own = tmp_path / "my_frames"
    assert bpy.ops.posetalk.render_frames(size=64, out=str(own)) == {"FINISHED"}
    for _ in range(2):
        assert bpy.ops.posetalk.render_frames(size=64) == {"FINISHED"}
    assert len(list(own.glob("frame_*.png"))) == N_FRAMES and not (own / cache.MARKER).exists()

    # Clear Unused Renders keeps what a strip of this file shows and folders that are not renders of ours
    count, size = cache.usage(max_age=0.0)
    assert count >= 3 and size > 0
    current = _strip_dir(bpy.context.scene, addon)
    assert bpy.ops.posetalk.clear_render_cache() == {"FINISHED"}
    assert current.is_dir() and plain.is_dir() and not other.exists() and not dirs[4].exists()
    assert cache.usage(max_age=0.0)[0] == 1


def test_render_without_a_rig_or_strip_is_refused(addon):
    with pytest.raises(RuntimeError, match="create one first"):
        bpy.ops.posetalk.render_frames()
