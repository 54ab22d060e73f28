"""motion_from_video through the real worker's ``capture`` op on a real movie: a photo of a face turned by
ffmpeg's rotate filter with a known roll (a movie strip with trims: the keys follow what the strip shows),
channel choice (the other curves and the animator's keys kept), a file with mouth and blinks into a new take,
undo, and bad videos refused with the scene unchanged."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import bpy
import numpy as np
import pytest
from bt_env import ROOT, snapshot, strips_of

PHOTO = ROOT / "examples" / "portrait.png"  # the performer: the bundled photo, turned by ffmpeg
FPS = 25
SECONDS = 3.2
AMPLITUDE = 12.0  # degrees of roll
PERIOD = 2.4  # seconds


def true_roll(t: np.ndarray | float) -> np.ndarray | float:
    """The head's roll in the movie at time t (s): ffmpeg turns clockwise for a positive angle, roll is
    counter-clockwise."""
    return -AMPLITUDE * np.sin(2 * np.pi * np.asarray(t) / PERIOD)


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real H.264 movie of a face rolling by a known angle (ffmpeg's rotate filter on a photo)."""
    if not PHOTO.exists():
        pytest.fail(f"test photo missing: {PHOTO}")
    out = tmp_path_factory.mktemp("movie") / "roll.mp4"
    angle = f"{math.radians(AMPLITUDE)}*sin(2*PI*t/{PERIOD})"
    vf = f"scale=360:-2,rotate=a='{angle}':c=gray,format=yuv420p"
    cmd = ["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", str(FPS), "-i", str(PHOTO), "-t", str(SECONDS)]
    subprocess.run([*cmd, "-vf", vf, "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def audio_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bad") / "tone.m4a"
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=220:duration=1", str(out)]
    subprocess.run(cmd, check=True)
    return out


def make_rig(portrait: Path) -> bpy.types.Object:
    assert bpy.ops.posetalk.create_rig(image_path=str(portrait)) == {"FINISHED"}
    return bpy.context.scene.posetalk.rig


def test_a_trimmed_movie_strip_drives_the_rotation_and_keeps_the_rest(addon, movie, portrait):
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    strip = strips_of(scene).new_movie("performer", str(movie), 2, 31)  # movie frame 0 at scene frame 31
    strip.frame_offset_start, strip.frame_offset_end = 10, 6  # trimmed at both ends
    first, end = strip.frame_final_start, strip.frame_final_end
    assert (first, end) == (41, 31 + strip.frame_duration - 6)
    head = make_rig(portrait)
    # the animator's own keys: a location curve the video must not touch and a pin on the roll
    head.location.x = 0.05
    head.keyframe_insert("location", index=0, frame=first + 5)
    head.rotation_euler.z = math.radians(3.0)
    head.keyframe_insert("rotation_euler", index=2, frame=first + 20)
    fcs = addon.curves.find_fcurves(head)
    loc_before = [tuple(kp.co) for kp in fcs.find("location", index=0).keyframe_points]
    bpy.ops.ed.undo_push(message="before capture")
    before = snapshot(head, addon.curves)

    result = bpy.ops.posetalk.motion_from_video("EXEC_DEFAULT", True, strip=strip.name, channels={"ROTATION"})
    assert result == {"FINISHED"}
    head = bpy.data.objects[head.name]
    fcs = addon.curves.find_fcurves(head)
    assert [tuple(kp.co) for kp in fcs.find("location", index=0).keyframe_points] == loc_before
    assert fcs.find("location", index=1) is None and fcs.find("scale", index=0) is None
    roll = fcs.find("rotation_euler", index=2)
    frames = sorted(kp.co.x for kp in roll.keyframe_points)
    assert frames[0] == first and frames[-1] == end - 1  # the keys span exactly what the strip shows
    pins = [kp for kp in roll.keyframe_points if kp.type != "GENERATED"]
    assert [(kp.co.x, round(math.degrees(kp.co.y), 3)) for kp in pins] == [(first + 20, 3.0)]
    assert len(roll.keyframe_points) < (end - first) / 2  # sparse

    # scene frame f shows movie frame f - 31 (at the movie's 25 fps); the pose is relative to the first frame
    f = np.arange(first, end)
    t = (f - 31) / FPS
    want = true_roll(t) - true_roll(t[0])
    got = np.array([math.degrees(roll.evaluate(int(x))) for x in f])
    away = np.abs(f - (first + 20)) > 8  # the pin bends the curve near it
    err = np.abs(got - want)[away]
    assert err.mean() < 1.0 and err.max() < 3.0, (err.mean(), err.max())
    for axis in (0, 1):  # a pure roll: no pitch or yaw
        other = fcs.find("rotation_euler", index=axis)
        assert max(abs(math.degrees(other.evaluate(int(x)))) for x in f) < 2.0

    name = head.name
    bpy.ops.ed.undo()
    assert snapshot(bpy.data.objects[name], addon.curves) == before


def test_a_file_gives_mouth_and_blinks_into_a_new_take(addon, movie, portrait):
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    scene.frame_start = 5
    head = make_rig(portrait)
    assert bpy.ops.posetalk.motion_from_video(video_path=str(movie), channels={"ROTATION"}) == {"FINISHED"}
    head = bpy.data.objects[head.name]
    takes_before = len(addon.takes.takes_of(head))
    rotation = snapshot(head, addon.curves)

    result = bpy.ops.posetalk.motion_from_video(video_path=str(movie), channels={"MOUTH", "BLINK"}, new_take=True)
    assert result == {"FINISHED"}
    head = bpy.data.objects[head.name]
    assert len(addon.takes.takes_of(head)) == takes_before + 1
    fcs = addon.curves.find_fcurves(head)
    n = round(SECONDS * FPS)
    for channel in (*addon.curves.MOUTH_CHANNELS, addon.curves.BLINK_CHANNEL):
        fc = fcs.find(f'["{channel}"]')
        assert fc is not None, channel
        xs = [kp.co.x for kp in fc.keyframe_points]
        assert min(xs) == 5 and max(xs) <= 5 + n - 1  # from the scene's start, as long as the video
        assert all(0.0 <= fc.evaluate(f) <= 1.0 for f in range(5, 5 + n))
    assert max(fcs.find('["blink"]').evaluate(f) for f in range(5, 5 + n)) < 0.5  # a photo never blinks
    # the rotation of the copied take is the first capture's
    assert [c for c in snapshot(head, addon.curves) if c[0] == "rotation_euler"] == rotation


def test_bad_videos_are_refused_and_change_nothing(addon, portrait, audio_only, tmp_path):
    scene = bpy.context.scene
    head = make_rig(portrait)
    before = snapshot(head, addon.curves)
    with pytest.raises(RuntimeError, match="no video stream"):
        bpy.ops.posetalk.motion_from_video(video_path=str(audio_only))
    with pytest.raises(RuntimeError, match="video file not found"):
        bpy.ops.posetalk.motion_from_video(video_path=str(tmp_path / "missing.mp4"))
    strips_of(scene).new_image("still", str(ROOT / "examples" / "portrait.png"), 1, 1)
    with pytest.raises(RuntimeError, match="not a movie strip"):
        bpy.ops.posetalk.motion_from_video(strip="still")
    with pytest.raises(RuntimeError, match="no channels"):
        bpy.ops.posetalk.motion_from_video(video_path=str(audio_only), channels=set())
    assert snapshot(bpy.data.objects[head.name], addon.curves) == before


def test_a_bound_character_follows_the_video(addon, movie):
    """The same landing on a character (Rigify-like: neck and head bones): the captured roll read back from its
    PoseTalk layer, its own animation left playing below."""
    from bt_characters import rigify_like  # noqa: PLC0415

    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    rig, _face = rigify_like(scene)
    assert bpy.ops.posetalk.bind_character(object=rig.name, rig_preset="RIGIFY", mouth="NONE") == {"FINISHED"}
    own = rig.animation_data.action if rig.animation_data else None
    strip = strips_of(scene).new_movie("performer", str(movie), 2, 1)
    assert bpy.ops.posetalk.motion_from_video(rig=rig.name, strip=strip.name, channels={"ROTATION"}) == {"FINISHED"}
    rig = bpy.data.objects[rig.name]
    head = addon.targets.Head(rig)
    fcurves = head.find_fcurves()
    assert fcurves is not None and any('pose.bones["head"]' in fc.data_path for fc in fcurves)
    f = np.arange(strip.frame_final_start, strip.frame_final_end)
    want = true_roll((f - 1) / FPS) - true_roll(0.0)
    got = np.array([head.pose_at(fcurves, int(x))[2] for x in f])
    assert np.abs(got - want).mean() < 1.0, np.abs(got - want).mean()
    if own is not None:  # the character's own animation plays on below the PoseTalk layer
        assert any(s.action == own for t in rig.animation_data.nla_tracks for s in t.strips)
