"""Render All Heads: every talking head of the scene rendered in turn, each into its own strip above its sound,
with one cancel for all, and every head's inputs checked before the first render."""

from __future__ import annotations

import os
import shutil

import bpy
import pytest
from bt_env import needs_sound, strips_of

N_FRAMES = 12


@pytest.fixture
def two_heads(addon, speech_wav, portrait, tmp_path):
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 25, 1.0
    heads = []
    for k, start in enumerate((1, 40)):
        sound = strips_of(scene).new_sound(f"line {k}", str(speech_wav), 1 + 2 * k, start)
        sound.frame_offset_end = sound.frame_duration - N_FRAMES
        own = tmp_path / f"portrait{k}.png"
        shutil.copy(portrait, own)
        assert bpy.ops.posetalk.create_rig(image_path=str(own), strip=sound.name, name=f"Head {k}") == {"FINISHED"}
        heads.append(scene.posetalk.rig)
        assert bpy.ops.posetalk.generate_motion(rig=heads[-1].name, prompt="nods", seed=k) == {"FINISHED"}
    return scene, heads


def _images(scene, addon) -> dict[str, object]:
    return {s.get("posetalk_rig"): s for s in addon.compat.all_strips(scene) if s.type == "IMAGE"}


@needs_sound
def test_every_head_gets_its_strip(addon, two_heads, monkeypatch):
    scene, heads = two_heads
    labels = []
    real_start = addon.runner.start

    def start(op, params, label):  # the progress bar's label of each job
        labels.append(label)
        return real_start(op, params, label)

    monkeypatch.setattr(addon.runner, "start", start)
    assert bpy.ops.posetalk.render_all(size=64) == {"FINISHED"}
    images = _images(scene, addon)
    assert set(images) == {h.name for h in heads}
    for h in heads:
        sound = addon.sequencer.head_strip(scene, h)
        img = images[h.name]
        assert img.channel > sound.channel and img.frame_final_start == sound.frame_final_start
        assert len(img.elements) == N_FRAMES
    assert labels == ["Render All Heads 1/2: Head 0", "Render All Heads 2/2: Head 1"]


@needs_sound
def test_a_bad_head_stops_everything_before_any_render(addon, two_heads):
    scene, heads = two_heads
    path = bpy.path.abspath(heads[1].posetalk.image.filepath)
    os.rename(path, path + ".away")
    with pytest.raises(RuntimeError, match="the portrait image is missing"):
        bpy.ops.posetalk.render_all(size=64)
    assert _images(scene, addon) == {}


@needs_sound
def test_one_cancel_stops_the_rest(addon, two_heads, monkeypatch):
    scene, heads = two_heads
    real_pump = addon.runner.pump

    def pump(job, timeout=0.0):  # cancel the second head's render as soon as it is sent (a 12-frame render
        if job.label.startswith("Render All Heads 2/2"):  # can finish within one pump: no waiting for progress)
            addon.runner.cancel_job(job)
        return real_pump(job, timeout)

    monkeypatch.setattr(addon.runner, "pump", pump)
    assert bpy.ops.posetalk.render_all(size=64) == {"CANCELLED"}
    assert set(_images(scene, addon)) == {heads[0].name}  # the first render stays, the second never landed
