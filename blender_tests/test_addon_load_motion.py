"""posetalk.load_motion: saved pose.json / lips.json landed by Generate Motion and Generate Lip Sync themselves
(the same keys, take and reports), and refused in one line, with nothing changed, when a file does not fit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from bt_env import bpy

N = 40


def _doc(kind: str, fps: float, channels: list[str], rows: list[list[float]], **meta) -> dict:
    return {"format": f"posetalk.{kind}/1", "fps": fps, "channels": channels, "frames": rows, "meta": meta}


@pytest.fixture
def head(addon, scene_with_speech, portrait: Path):
    scene, strip = scene_with_speech
    assert bpy.ops.posetalk.create_rig(image_path=str(portrait), strip=strip.name) == {"FINISHED"}
    return scene.posetalk.rig


def _files(addon, tmp_path: Path, fps: float = 24.0) -> tuple[Path, Path]:
    pose_rows = [[10 * math.sin(i / 6), 5 * math.cos(i / 9), 0.0, 0.01 * i / N, 0.0, 1.0] for i in range(N)]
    lips_rows = [[0.5 + 0.5 * math.sin(i / 2), 0.2, 0.1, 0.0] for i in range(N)]
    pose = tmp_path / "line.pose.json"
    lips = tmp_path / "line.lips.json"
    pose.write_text(json.dumps(_doc("pose", fps, addon.curves.POSE_CHANNELS, pose_rows, prompt="nods", seed=7)))
    lips.write_text(json.dumps(_doc("lips", fps, addon.curves.MOUTH_CHANNELS, lips_rows)))
    return pose, lips


def test_load_motion_lands_the_files_as_generated_keys(addon, head, tmp_path: Path) -> None:
    pose, lips = _files(addon, tmp_path)
    assert bpy.ops.posetalk.load_motion(pose_path=str(pose), lips_path=str(lips)) == {"FINISHED"}
    action = head.animation_data.action
    assert action["posetalk_prompt"] == "nods" and action["posetalk_seed"] == 7  # a take, named by the pose's meta
    t = addon.sequencer.head_timing(bpy.context, head)
    fcurves = addon.curves.find_fcurves(head)
    rows = json.loads(pose.read_text())["frames"]
    for i in range(min(N, t["n_frames"])):
        got = addon.curves.pose_at(fcurves, t["first_frame"] + i, head.posetalk.face_height)
        assert got[0] == pytest.approx(rows[i][0], abs=0.41) and got[1] == pytest.approx(rows[i][1], abs=0.41)
    mouth = addon.curves.find_fcurve(fcurves, '["mouth_open"]', 0)
    assert 0 < len(mouth.keyframe_points) < N  # sparse, editable keys
    assert head.posetalk.keys_per_second > 0


def test_load_motion_refuses_files_that_do_not_fit(addon, head, tmp_path: Path) -> None:
    pose, lips = _files(addon, tmp_path, fps=25.0)
    cases = [
        ({"pose_path": str(pose)}, "is at 25 fps, the scene at 24 fps"),
        ({"pose_path": str(lips)}, "is not a PoseTalk pose.json"),
        ({"lips_path": str(tmp_path / "nope.json")}, "file not found"),
        ({}, "give a pose.json, a lips.json or both"),
    ]
    for options, message in cases:
        with pytest.raises(RuntimeError, match=message):
            bpy.ops.posetalk.load_motion(**options)
        assert head.animation_data is None or head.animation_data.action is None  # nothing changed
