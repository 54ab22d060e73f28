"""The line's words for lip sync: the Dialogue field on the head, taken from text strips or a .txt beside the
sound, its language, kept in the .blend, and used by Generate Lip Sync (the real engine aligns them)."""

from __future__ import annotations

import shutil

import bpy
import pytest
from bt_env import needs_sound, snapshot

LINE = "The quick brown fox jumps over the lazy dog."


@pytest.fixture
def head(addon, scene_with_speech, portrait):
    assert bpy.ops.posetalk.create_rig(image_path=str(portrait)) == {"FINISHED"}
    return bpy.context.scene.posetalk.rig


@needs_sound
def test_dialogue_from_the_overlapping_text_strips(addon, head):
    scene = bpy.context.scene
    strip = addon.sequencer.head_strip(scene, head)
    a, b = strip.frame_final_start, strip.frame_final_end
    addon.compat.new_text_strip(scene, "second", "jumps over   the lazy dog.", 5, a + 40, b)
    addon.compat.new_text_strip(scene, "first", "The quick brown fox", 6, a - 10, a + 40)
    addon.compat.new_text_strip(scene, "other line", "Not this one.", 5, b + 5, b + 50)
    bpy.ops.ed.undo_push(message="strips")
    assert bpy.ops.posetalk.dialogue_from_strips("EXEC_DEFAULT", True) == {"FINISHED"}
    assert head.posetalk.dialogue == LINE
    bpy.ops.ed.undo()
    assert bpy.context.scene.posetalk.rig.posetalk.dialogue == ""  # an undo step of its own


@needs_sound
def test_dialogue_from_the_text_file_beside_the_sound(addon, head, tmp_path):
    scene = bpy.context.scene
    strip = addon.sequencer.head_strip(scene, head)
    wav = tmp_path / "line_042.wav"
    shutil.copy(bpy.path.abspath(strip.sound.filepath), wav)
    strip.sound.filepath = str(wav)
    with pytest.raises(RuntimeError, match=r"no text file: .*line_042\.txt"):
        bpy.ops.posetalk.dialogue_from_file()
    (tmp_path / "line_042.txt").write_text("\ufeff" + LINE.replace(" ", "\n", 3) + "\n", encoding="utf-8")
    assert bpy.ops.posetalk.dialogue_from_file() == {"FINISHED"}
    assert head.posetalk.dialogue == LINE
    other = tmp_path / "other.txt"
    other.write_text("", encoding="utf-8")
    with pytest.raises(RuntimeError, match="the text file is empty"):
        bpy.ops.posetalk.dialogue_from_file(filepath=str(other))
    assert head.posetalk.dialogue == LINE


@needs_sound
def test_lip_sync_uses_the_dialogue_and_its_language(addon, head, tmp_path):
    head.posetalk.dialogue = (
        "The quick brown fox jumps over the lazy dog. Then it stops, looks around, and runs far away."
    )
    assert bpy.ops.posetalk.choose_language(language="en-us") == {"FINISHED"}
    assert head.posetalk.language == "en-us"
    with pytest.raises(RuntimeError, match="unknown language 'klingon'"):
        bpy.ops.posetalk.choose_language(language="klingon")
    assert head.posetalk.language == "en-us"
    assert bpy.ops.posetalk.generate_lipsync() == {"FINISHED"}
    meta = addon.runner.current.result["lips"]["meta"]
    assert meta["phones"] == "transcript" and meta["language"] == "en-us" and meta["alignment"] == "good"
    before = snapshot(head, addon.curves)
    head.posetalk.language = "xx-nope"  # typed by hand: the engine refuses it, nothing changes
    with pytest.raises(RuntimeError, match="unknown language 'xx-nope'"):
        bpy.ops.posetalk.generate_lipsync()
    assert snapshot(head, addon.curves) == before
    head.posetalk.dialogue = ""  # no words: the phones are recognized from the sound
    assert bpy.ops.posetalk.generate_lipsync(language="en") == {"FINISHED"}
    assert addon.runner.current.result["lips"]["meta"]["phones"].startswith("recognized")
    # kept in the .blend
    head.posetalk.dialogue, head.posetalk.language = LINE, "fr"
    path = tmp_path / "dialogue.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    again = bpy.context.scene.posetalk.rig
    assert again.posetalk.dialogue == LINE and again.posetalk.language == "fr"
