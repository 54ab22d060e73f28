"""generate_motion through the real worker (``python -m engine serve`` from the project's venv): timing against
the sound strip, sparse keys, pins, frame ranges, undo, and the engine being missing, crashing or cancelled."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import bpy
import pytest
from bt_env import ENGINE_PYTHON, ROOT, compat, needs_sound, snapshot, strips_of

PROMPT = "nods slowly, then looks to the left"


def engine_pose(audio: Path, tmp: Path, fps: float, seed: int, offset: float, duration: float) -> list[list[float]]:
    """The engine's own CLI on the same audio window: the reference the curves must reproduce."""
    out = tmp / "ref_pose.json"
    cmd = [ENGINE_PYTHON, "-m", "engine", "pose", "--audio", str(audio), "--prompt", PROMPT, "--seed", str(seed)]
    cmd += ["--fps", repr(fps), "--audio-offset", repr(offset), "--audio-duration", repr(duration), "--out", str(out)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, timeout=300)
    return json.loads(out.read_text())["frames"]


def make_rig(portrait: Path) -> bpy.types.Object:
    assert bpy.ops.posetalk.create_rig(image_path=str(portrait)) == {"FINISHED"}
    return bpy.context.scene.posetalk.rig


@needs_sound
@pytest.mark.parametrize("fps,fps_base", [(24, 1.0), (30, 1.001)])
def test_curves_follow_the_trimmed_strip(addon, speech_wav, portrait, tmp_path, fps, fps_base):
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, fps_base
    strip = strips_of(scene).new_sound("speech", str(speech_wav), 1, 37)  # placed at frame 37
    strip.frame_offset_start, strip.frame_offset_end = 12, 10  # trimmed at both ends
    head = make_rig(portrait)
    assert head.posetalk.strip == strip.name
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=7) == {"FINISHED"}
    first, end = strip.frame_final_start, strip.frame_final_end
    assert (first, end) == (49, strip.frame_start + strip.frame_duration - 10)
    fcs = addon.curves.find_fcurves(head)
    rot = [fcs.find("rotation_euler", index=i) for i in range(3)]
    for fc in rot:
        frames = [kp.co.x for kp in fc.keyframe_points]
        assert min(frames) == first and max(frames) == end - 1  # keys span exactly the visible audio
        assert all(kp.type == "GENERATED" and kp.interpolation == "BEZIER" for kp in fc.keyframe_points)

    # the visible window of the file (the strip's trims, in seconds), through the engine's CLI
    fps = scene.render.fps / scene.render.fps_base  # as Blender has it (fps_base is a float32)
    offset, duration = 12 / fps, (end - first) / fps
    ref = engine_pose(Path(strip.sound.filepath), tmp_path, fps, 7, offset, duration)
    n = end - first
    assert abs(len(ref) - n) <= 1
    errs = []
    for i in range(min(n, len(ref))):
        pitch = -math.degrees(rot[0].evaluate(first + i))
        yaw = math.degrees(rot[1].evaluate(first + i))
        errs.append(max(abs(pitch - ref[i][0]), abs(yaw - ref[i][1])))
    assert max(errs) <= 0.5, f"curves do not match the trimmed audio's pose: max {max(errs):.2f} deg"
    # shifted by a few frames, the match is clearly worse: the timing is right, not just the shape
    shifted = [abs(math.degrees(rot[1].evaluate(first + i + 4)) - ref[i][1]) for i in range(min(n, len(ref)) - 4)]
    assert max(shifted) > max(errs)


@pytest.mark.parametrize("prompt", ["nods while talking", "shakes the head, then looks up"])
def test_sparse_keys_meet_the_targets(addon, scene_with_speech, portrait, prompt):
    scene, strip = scene_with_speech
    head = make_rig(portrait)
    assert bpy.ops.posetalk.generate_motion(prompt=prompt, seed=3) == {"FINISHED"}
    fps = scene.render.fps / scene.render.fps_base
    seconds = strip.frame_final_duration / fps
    fcs = addon.curves.find_fcurves(head)
    assert len(fcs) == 8
    for fc in fcs:
        assert len(fc.keyframe_points) / seconds <= 6.0, (fc.data_path, fc.array_index, len(fc.keyframe_points))
    assert head.posetalk.keys_per_second <= 6.0
    assert head.posetalk.max_deviation <= 0.5
    assert sum(len(fc.keyframe_points) for fc in fcs) < 8 * strip.frame_final_duration / 3  # far from dense


def test_pins_are_kept_and_regeneration_flows_around_them(addon, scene_with_speech, portrait):
    scene, strip = scene_with_speech
    head = make_rig(portrait)
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=1) == {"FINISHED"}
    fcs = addon.curves.find_fcurves(head)
    yaw = fcs.find("rotation_euler", index=1)
    pin_frame, pin_value = strip.frame_final_start + 40, math.radians(12.0)
    kp = yaw.keyframe_points.insert(pin_frame, pin_value, keyframe_type="KEYFRAME")  # the animator's key
    assert kp.type == "KEYFRAME"
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=2) == {"FINISHED"}
    pins = [k for k in yaw.keyframe_points if k.type != "GENERATED"]
    assert len(pins) == 1 and pins[0].co.x == pin_frame and pins[0].co.y == pytest.approx(pin_value, abs=1e-7)
    assert abs(math.degrees(yaw.evaluate(pin_frame)) - 12.0) < 0.05
    # the motion flows into the pin: neighbouring frames are close to it, no spike
    assert abs(math.degrees(yaw.evaluate(pin_frame - 1)) - 12.0) < 3.0
    assert any(k.type == "GENERATED" for k in yaw.keyframe_points)

    # keep_keys=False replaces everything
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=2, keep_keys=False) == {"FINISHED"}
    assert all(k.type == "GENERATED" for k in yaw.keyframe_points)


def test_frame_range_regenerates_only_inside(addon, scene_with_speech, portrait):
    scene, strip = scene_with_speech
    head = make_rig(portrait)
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=1) == {"FINISHED"}
    fcs = addon.curves.find_fcurves(head)
    pitch = fcs.find("rotation_euler", index=0)
    a, b = strip.frame_final_start + 30, strip.frame_final_start + 60
    outside = [f for f in range(strip.frame_final_start - 5, strip.frame_final_end + 5) if f < a or f > b]
    before = {f: pitch.evaluate(f) for f in outside}
    inside_before = [pitch.evaluate(f) for f in range(a, b + 1)]
    keys_before = [tuple(k.co) for k in pitch.keyframe_points if k.co.x < a - 1 or k.co.x > b + 1]
    r = bpy.ops.posetalk.generate_motion(prompt="shakes the head", seed=9, frame_start=a, frame_end=b)
    assert r == {"FINISHED"}
    assert [tuple(k.co) for k in pitch.keyframe_points if k.co.x < a - 1 or k.co.x > b + 1] == keys_before
    changed = [f for f, v in before.items() if abs(pitch.evaluate(f) - v) > 1e-5]
    assert changed == [], "the curve outside the range moved"
    inside = [abs(pitch.evaluate(f) - before_in) for f, before_in in zip(range(a, b + 1), inside_before)]
    assert max(inside) > math.radians(0.5), "the range was not regenerated"


def test_undo_restores_the_previous_curves_exactly(addon, scene_with_speech, portrait):
    head = make_rig(portrait)
    bpy.ops.ed.undo_push(message="rig")
    assert bpy.ops.posetalk.generate_motion("EXEC_DEFAULT", True, prompt=PROMPT, seed=1) == {"FINISHED"}
    first = snapshot(head, addon.curves)
    assert first
    assert bpy.ops.posetalk.generate_motion("EXEC_DEFAULT", True, prompt="shakes the head", seed=2) == {"FINISHED"}
    head = bpy.data.objects["PoseTalk Head"]
    assert snapshot(head, addon.curves) != first
    bpy.ops.ed.undo()
    assert snapshot(bpy.data.objects["PoseTalk Head"], addon.curves) == first
    bpy.ops.ed.undo()
    assert snapshot(bpy.data.objects["PoseTalk Head"], addon.curves) == []


def test_no_strip_is_refused_with_a_reason(addon, portrait):
    make_rig(portrait)
    with pytest.raises(RuntimeError, match="no sound strip"):
        bpy.ops.posetalk.generate_motion(prompt=PROMPT)


@needs_sound
def test_a_sequencer_showing_another_scene_is_named_in_the_reason(addon, portrait, speech_wav):
    workspace = bpy.context.workspace
    if not compat.HAS_SEQUENCER_SCENE:
        pytest.skip("Blender 5.0's sequencer scene")
    edit = bpy.data.scenes.new("Edit")  # the Sequencer shows this scene; the window shows the rig's scene
    strips_of(edit).new_sound("speech", str(speech_wav), 1, 1)
    workspace.sequencer_scene = edit
    make_rig(portrait)
    with pytest.raises(RuntimeError, match="no sound strip.*the Sequencer shows scene 'Edit'"):
        bpy.ops.posetalk.generate_motion(prompt=PROMPT)
    workspace.sequencer_scene = bpy.context.scene
    with pytest.raises(RuntimeError, match="no sound strip") as caught:
        bpy.ops.posetalk.generate_motion(prompt=PROMPT)
    assert "Sequencer shows" not in str(caught.value)


def test_no_rig_is_refused_with_a_reason(addon, scene_with_speech):
    with pytest.raises(RuntimeError, match="create one first"):
        bpy.ops.posetalk.generate_motion(prompt=PROMPT)


def test_missing_engine_is_refused_with_what_to_do(addon, scene_with_speech, portrait):
    head = make_rig(portrait)
    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    addon.runner.stop_engine()
    prefs.engine_python = "/nonexistent/python"
    with pytest.raises(RuntimeError, match="(?i)engine Python not found.*make setup"):
        bpy.ops.posetalk.generate_motion(prompt=PROMPT)
    prefs.engine_python = ENGINE_PYTHON
    prefs.engine_root = "/tmp"
    with pytest.raises(RuntimeError, match="(?i)engine folder not found"):
        bpy.ops.posetalk.generate_motion(prompt=PROMPT)
    assert addon.curves.find_fcurves(head) is None


def test_engine_crash_leaves_the_scene_unchanged(addon, scene_with_speech, portrait, tmp_path):
    head = make_rig(portrait)
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=1) == {"FINISHED"}
    before = snapshot(head, addon.curves)
    fake = tmp_path / "crashing-python"  # an "engine" that dies at once, like a broken install
    fake.write_text("#!/bin/sh\necho 'Segmentation fault (simulated engine crash)' >&2\nexit 139\n")
    fake.chmod(0o755)
    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    prefs.engine_python = str(fake)
    # the operator returns CANCELLED with the engine's message as an error report (bpy.ops raises it)
    with pytest.raises(RuntimeError, match=r"engine stopped unexpectedly \(exit code 139\).*simulated engine crash"):
        bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=5)
    assert snapshot(head, addon.curves) == before
    prefs.engine_python = ""
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=5) == {"FINISHED"}  # a new engine starts


def test_bad_prompt_is_reported_by_the_engine(addon, scene_with_speech, portrait):
    head = make_rig(portrait)
    with pytest.raises(RuntimeError, match="prompt is empty"):
        bpy.ops.posetalk.generate_motion(prompt="   ")
    with pytest.raises(RuntimeError, match="(?i)prompt"):
        bpy.ops.posetalk.generate_motion(prompt="nod " * 2000)
    assert addon.runner.current.state == "error"
    assert addon.curves.find_fcurves(head) is None


def test_cancel_ends_the_job_and_the_worker_survives(addon, speech_wav):
    runner = addon.runner
    params = {"audio": str(speech_wav), "prompt": PROMPT, "fps": 25.0, "seed": 0}
    job = runner.start("pose", params, "test")
    runner.cancel_job(job)
    assert job.state == "cancelled"
    job2 = runner.wait(runner.start("pose", params, "test"))
    assert job2.state == "done" and len(job2.result["pose"]["frames"]) > 100
    assert runner.engine_running()
    pid = runner._client.pid
    assert bpy.ops.posetalk.stop_engine() == {"FINISHED"}
    assert not runner.engine_running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_an_existing_action_is_reused_and_its_keys_are_pins(addon, scene_with_speech, portrait):
    scene, strip = scene_with_speech
    head = make_rig(portrait)
    frame = strip.frame_final_start + 30
    head.rotation_euler.z = math.radians(-6.0)
    assert head.keyframe_insert("rotation_euler", index=2, frame=frame)  # keyed the usual way (I key)
    action = head.animation_data.action
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=3) == {"FINISHED"}
    assert head.animation_data.action == action and len(bpy.data.actions) == 1
    roll = addon.curves.find_fcurves(head).find("rotation_euler", index=2)
    (pin,) = [k for k in roll.keyframe_points if k.type != "GENERATED"]
    assert pin.co.x == frame and math.degrees(roll.evaluate(frame)) == pytest.approx(-6.0, abs=0.05)
    assert len(roll.keyframe_points) > 2


def test_progress_reaches_the_panel_state(addon, speech_wav):
    params = {"audio": str(speech_wav), "prompt": PROMPT, "fps": 25.0, "seed": 0}
    job = addon.runner.wait(addon.runner.start("pose", params, "Generate Motion"))
    assert job.state == "done" and job.total > 0 and job.done == job.total and job.fraction == 1.0


def test_engine_killed_mid_job_is_reported_and_replaced(addon, speech_wav, tmp_path):
    import signal

    runner = addon.runner
    params = {"audio": str(speech_wav), "prompt": PROMPT, "fps": 25.0, "seed": 0}
    runner.wait(runner.start("pose", params, "warm-up"))
    long_wav = tmp_path / "long.wav"  # a minute of speech: the job is surely running when the engine dies
    subprocess.run(["sox", str(speech_wav), str(long_wav), "repeat", "9"], check=True)
    job = runner.start("pose", {**params, "audio": str(long_wav)}, "test")
    os.kill(runner._client.pid, signal.SIGKILL)
    runner.wait(job)
    assert job.state == "error" and "exit code -9" in job.error
    again = runner.wait(runner.start("pose", params, "test"))  # a fresh engine takes over
    assert again.state == "done"


@needs_sound
def test_non_ascii_sound_path(addon, speech_wav, portrait, tmp_path):
    target = tmp_path / "Sprüche – ünïcødé.wav"
    target.write_bytes(speech_wav.read_bytes())
    strips_of(bpy.context.scene).new_sound("speech", str(target), 1, 1)
    make_rig(portrait)
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT) == {"FINISHED"}


@needs_sound
def test_missing_sound_file_is_refused(addon, speech_wav, portrait, tmp_path):
    target = tmp_path / "gone.wav"
    target.write_bytes(speech_wav.read_bytes())
    strip = strips_of(bpy.context.scene).new_sound("speech", str(target), 1, 1)
    head = make_rig(portrait)
    target.unlink()
    with pytest.raises(RuntimeError, match="sound file of strip 'speech' is missing"):
        bpy.ops.posetalk.generate_motion(prompt=PROMPT)
    assert addon.curves.find_fcurves(head) is None and strip.name == "speech"


def test_unset_operator_settings_come_from_the_panel(addon, scene_with_speech, portrait):
    """Settings the caller leaves unset come from the panel (scene.posetalk); the seed used is shown there.
    (In the UI, SKIP_SAVE also keeps Blender from re-using a previous call's values; bpy calls never do.)"""
    scene, _strip = scene_with_speech
    make_rig(portrait)
    assert bpy.ops.posetalk.generate_motion("INVOKE_DEFAULT", prompt=PROMPT, seed=5) == {"FINISHED"}
    assert scene.posetalk.seed == 5  # the seed used is shown in the panel
    scene.posetalk.seed = 2
    scene.posetalk.prompt = "   "  # the panel's prompt is used: an empty one is refused
    with pytest.raises(RuntimeError, match="prompt is empty"):
        bpy.ops.posetalk.generate_motion("INVOKE_DEFAULT")
    scene.posetalk.prompt = PROMPT
    assert bpy.ops.posetalk.generate_motion("INVOKE_DEFAULT") == {"FINISHED"}
    assert scene.posetalk.seed == 2


def _modal_probe(addon, params: dict):
    """An engine-job operator driven the way Blender's window manager drives a modal one.

    The bpy module has no windows, so ``invoke`` cannot add a modal handler here; the test plays the window
    manager instead (a real WM timer, TIMER and ESC events) against the real worker.
    """

    class Probe(addon.runner.EngineJobOperator):
        job_op = "pose"
        bl_label = "Probe"

        def __init__(self) -> None:
            self.reports: list[tuple[set, str]] = []
            self.applied = None

        def build(self, context):
            return params

        def apply(self, context, result):
            self.applied = result

        def report(self, kind, message):
            self.reports.append((kind, message))

    return Probe()


def _event(kind: str):
    from types import SimpleNamespace

    return SimpleNamespace(type=kind, value="PRESS" if kind == "ESC" else "NOTHING")


def _context():
    from types import SimpleNamespace

    return SimpleNamespace(window_manager=bpy.context.window_manager, window=None, scene=bpy.context.scene)


def test_modal_timer_drains_progress_without_blocking(addon, speech_wav):
    import time

    # the diffusion model, so that the job outlasts a few timer ticks (the keyword model on this short line can
    # finish between two of them, and then nothing shows that the UI ran meanwhile)
    params = {"audio": str(speech_wav), "prompt": PROMPT, "fps": 25.0, "seed": 0, "backend": "pld"}
    op, ctx = _modal_probe(addon, params), _context()
    assert op._start(ctx)
    op._timer = ctx.window_manager.event_timer_add(0.1, window=None)
    answers, fractions, slowest = [], [], 0.0
    while True:
        t = time.monotonic()
        answer = op.modal(ctx, _event("TIMER"))
        slowest = max(slowest, time.monotonic() - t)
        answers.append(answer)
        fractions.append(op._job.fraction)
        if answer != {"PASS_THROUGH"}:
            break
        time.sleep(0.05)
    assert answers[-1] == {"FINISHED"} and answers.count({"PASS_THROUGH"}) >= 2  # the UI ran while the job did
    assert fractions == sorted(fractions) and 0.0 < fractions[-2] and fractions[-1] == 1.0  # progress streamed
    assert slowest < 0.5  # no modal call waits for the job
    assert op.applied and len(op.applied["pose"]["frames"]) > 100 and op._timer is None and not op.reports


def test_escape_cancels_a_modal_job_and_the_engine_stays(addon, speech_wav, tmp_path):
    params = {"audio": str(speech_wav), "prompt": PROMPT, "fps": 25.0, "seed": 0}
    addon.runner.wait(addon.runner.start("pose", params, "warm-up"))
    long_wav = tmp_path / "long.wav"
    subprocess.run(["sox", str(speech_wav), str(long_wav), "repeat", "9"], check=True)
    op, ctx = _modal_probe(addon, {**params, "audio": str(long_wav)}), _context()
    assert op._start(ctx)
    pid = addon.runner._client.pid
    assert op.modal(ctx, _event("TIMER")) == {"PASS_THROUGH"}
    assert op.modal(ctx, _event("ESC")) == {"CANCELLED"}
    assert op._job.state == "cancelled" and op.applied is None
    assert [kind for kind, _ in op.reports] == [{"WARNING"}]
    again = addon.runner.wait(addon.runner.start("pose", params, "after"))  # the same engine takes the next job
    assert again.state == "done" and addon.runner._client.pid == pid


def test_model_prompt_weight_and_pause_settling_reach_the_engine(addon, scene_with_speech, portrait):
    make_rig(portrait)
    settings = bpy.context.scene.posetalk
    settings.backend, settings.guidance, settings.pause_calm = "pld", 4.5, 0.25
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=2) == {"FINISHED"}
    meta = addon.runner.current.result["pose"]["meta"]
    assert meta["backend"] == "pld" and meta["guidance"] == 4.5 and meta["pause_calm"] == 0.25
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=2, pause_calm=0.75) == {"FINISHED"}
    assert addon.runner.current.result["pose"]["meta"]["pause_calm"] == 0.75  # the operator's own value wins
    settings.backend = "procedural"
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=2) == {"FINISHED"}
    assert addon.runner.current.result["pose"]["meta"]["backend"] == "procedural"
    with pytest.raises(TypeError):
        settings.backend = "nonsense"


def test_generated_keys_the_animator_moves_or_rekeys_become_pins(addon, scene_with_speech, portrait):
    """Dragging a generated key or keying over it keeps its type GENERATED in Blender: still a pin."""
    head = make_rig(portrait)
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=1) == {"FINISHED"}
    fcurves = addon.curves.find_fcurves(head)
    yaw, pitch = fcurves.find("rotation_euler", index=1), fcurves.find("rotation_euler", index=0)
    moved = sorted(yaw.keyframe_points, key=lambda k: k.co.x)[len(yaw.keyframe_points) // 2]
    frame_m, value_m = moved.co.x, moved.co.y + math.radians(6.0)
    moved.co.y, moved.handle_left.y, moved.handle_right.y = (
        value_m,
        moved.handle_left.y + 0.1,
        moved.handle_right.y + 0.1,
    )
    rekeyed = sorted(pitch.keyframe_points, key=lambda k: k.co.x)[len(pitch.keyframe_points) // 3]
    frame_r = rekeyed.co.x
    pitch.keyframe_points.insert(frame_r, math.radians(-9.0))  # an existing key: Blender keeps its type
    assert moved.type == rekeyed.type == "GENERATED"
    untouched = sorted(pitch.keyframe_points, key=lambda k: k.co.x)[-2].co.x
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=2) == {"FINISHED"}
    assert yaw.evaluate(frame_m) == pytest.approx(value_m, abs=math.radians(0.05))
    assert pitch.evaluate(frame_r) == pytest.approx(math.radians(-9.0), abs=math.radians(0.05))
    yaw_types = {round(k.co.x): k.type for k in yaw.keyframe_points}
    pitch_types = {round(k.co.x): k.type for k in pitch.keyframe_points}
    assert yaw_types[round(frame_m)] == pitch_types[round(frame_r)] == "KEYFRAME"  # now shown as the animator's
    assert pitch_types.get(round(untouched), "GENERATED") == "GENERATED"  # keys nobody touched were regenerated
    assert sum(k.type == "KEYFRAME" for c in fcurves for k in c.keyframe_points) == 2
