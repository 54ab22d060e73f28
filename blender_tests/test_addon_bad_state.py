"""The operators on bad scene state: one clear message, the scene as it was, and the next job works.

The engine is the real worker. To change the scene *while* a job runs, the test wraps the runner's event pump
(which the blocking operators call while they wait) and acts once the engine has reported progress.
"""

from __future__ import annotations

import os
import shutil
import signal

import bpy
import pytest
from bt_env import needs_sound, snapshot

PROMPT = "nods while talking"


@pytest.fixture
def head(addon, scene_with_speech, portrait, tmp_path):
    own = tmp_path / "portrait.png"  # a copy the test may delete
    shutil.copy(portrait, own)
    assert bpy.ops.posetalk.create_rig(image_path=str(own)) == {"FINISHED"}
    obj = bpy.context.scene.posetalk.rig
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=1) == {"FINISHED"}
    return obj


def _during_job(addon, monkeypatch, action):
    """Run ``action()`` once, while the next engine job is under way: at its first pump, once the request is
    sent (a fast job, e.g. the keyword model's, can finish within one pump, so no waiting for progress)."""
    runner = addon.runner
    real_pump = runner.pump
    done = []

    def pump(job, timeout=0.0):
        if not done and not job.finished:
            done.append(True)
            action()
        return real_pump(job, timeout)

    monkeypatch.setattr(runner, "pump", pump)
    return done


def _state(obj, addon) -> tuple:
    return snapshot(obj, addon.curves), sorted(obj.keys()), len(bpy.data.actions)


@needs_sound
@pytest.mark.parametrize("op", ["generate_motion", "generate_lipsync"])
def test_strip_deleted_while_the_job_runs(addon, head, monkeypatch, op):
    scene = bpy.context.scene
    before = _state(head, addon)
    strip = addon.sequencer.head_strip(scene, head)
    sound_file = bpy.path.abspath(strip.sound.filepath)
    acted = _during_job(addon, monkeypatch, lambda: addon.compat.strips(scene).remove(strip))
    with pytest.raises(RuntimeError, match=r"sound strip 'speech' was deleted while the engine worked") as caught:
        getattr(bpy.ops.posetalk, op)()
    assert acted and "\n" not in str(caught.value).strip()
    assert _state(head, addon) == before  # nothing changed
    monkeypatch.undo()
    head.posetalk.strip = addon.compat.strips(scene).new_sound("speech 2", sound_file, 1, 1).name
    assert getattr(bpy.ops.posetalk, op)() == {"FINISHED"}  # the next job works


@needs_sound
def test_head_deleted_while_the_job_runs(addon, head, monkeypatch):
    name = head.name
    actions = len(bpy.data.actions)
    acted = _during_job(addon, monkeypatch, lambda: bpy.data.objects.remove(head))
    with pytest.raises(RuntimeError, match="talking head was deleted while the engine worked"):
        bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=2)
    assert acted and name not in bpy.data.objects and len(bpy.data.actions) == actions
    monkeypatch.undo()
    assert bpy.ops.posetalk.create_rig(image_path=str(bpy.data.images[0].filepath)) == {"FINISHED"}
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT) == {"FINISHED"}


@needs_sound
def test_portrait_file_vanished(addon, head):
    scene = bpy.context.scene
    path = bpy.path.abspath(head.posetalk.image.filepath)
    strips_before = len(addon.compat.all_strips(scene))
    os.rename(path, path + ".away")
    with pytest.raises(RuntimeError, match="the portrait image is missing"):  # found before any engine work
        bpy.ops.posetalk.render_frames(size=64)
    assert len(addon.compat.all_strips(scene)) == strips_before and not addon.runner.busy()
    os.rename(path + ".away", path)
    assert bpy.ops.posetalk.render_frames(size=64) == {"FINISHED"}  # the next job works
    assert len(addon.compat.all_strips(scene)) == strips_before + 1


@needs_sound
def test_engine_killed_while_the_operator_waits(addon, head, monkeypatch):
    before = _state(head, addon)
    acted = _during_job(addon, monkeypatch, lambda: os.kill(addon.runner._client.pid, signal.SIGKILL))
    with pytest.raises(RuntimeError, match=r"engine stopped unexpectedly \(exit code -9\)"):
        bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=3)
    assert acted and _state(head, addon) == before
    monkeypatch.undo()
    assert bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=3) == {"FINISHED"}  # a fresh engine
    assert _state(head, addon) != before
