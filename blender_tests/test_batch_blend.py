"""``python -m engine batch --blend``: each row's .blend, made by Blender through the add-on's own operators, opened
here in bpy: the talking head, its F-curves against the row's pose.json and lips.json, its take, its dialogue and
the sound strip. Real espeak-ng speech, the real engine and the real bpy."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bt_env import ENGINE_PYTHON, HAS_SOUND, NO_SOUND, ROOT, bpy, strips_of

pytestmark = pytest.mark.skipif(not HAS_SOUND, reason=NO_SOUND)

TEXT = "Good morning, captain. The ship is ready."
ROWS = {  # id → (audio text, prompt, extra columns)
    "hello": (TEXT, "nods slowly", {"text": TEXT, "language": "en", "seed": 3}),
    "dawn": ("We leave at dawn, whatever happens.", "looks to the left", {"fps": 24, "seed": 5}),
}
SIZE = 128


def _batch(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [ENGINE_PYTHON, "-m", "engine", "batch", *args, "--json-progress"]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def batch_out(tmp_path_factory: pytest.TempPathFactory, espeak, portrait: Path) -> tuple[Path, Path]:
    """A two-row batch with --blend (this test's own Blender makes the .blend files): (manifest, output folder)."""
    folder = tmp_path_factory.mktemp("batch_blend")
    lines = []
    for row_id, (words, prompt, extra) in ROWS.items():
        lines.append({"id": row_id, "image": str(portrait), "audio": str(espeak(words)), "prompt": prompt,
                      "size": SIZE, **extra})  # fmt: skip
    manifest = folder / "lines.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = folder / "out"
    proc = _batch(str(manifest), "--out", str(out), "--workers", "1", "--blend", "--blender", sys.executable)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return manifest, out


def test_batch_blend_files_hold_the_rows_heads(addon, batch_out: tuple[Path, Path]) -> None:
    manifest, out = batch_out
    rows = {r["id"]: r for r in map(json.loads, manifest.read_text().splitlines())}
    names = {p.name for p in out.iterdir()}
    expected = {f"{i}{s}" for i in ROWS for s in (".mp4", ".pose.json", ".lips.json", ".blend")}
    assert expected <= names and not names - expected - {"ledger.jsonl", "report.json", "workers.log", ".batch.lock"}
    for row_id, row in rows.items():
        pose = json.loads((out / f"{row_id}.pose.json").read_text())
        lips = json.loads((out / f"{row_id}.lips.json").read_text())
        bpy.ops.wm.open_mainfile(filepath=str(out / f"{row_id}.blend"))
        scene = bpy.context.scene
        assert scene.render.fps / scene.render.fps_base == pytest.approx(pose["fps"]) == row.get("fps", 25.0)
        head = bpy.data.objects[row_id]
        assert addon.rig.is_rig(head) and scene.posetalk.rig == head
        # the sound strip of the row's audio, linked to the head
        (strip,) = [s for s in strips_of(scene) if s.type == "SOUND"]
        assert os.path.samefile(bpy.path.abspath(strip.sound.filepath), row["audio"])
        assert addon.sequencer.head_strip(scene, head) == strip
        assert any(os.path.samefile(bpy.path.abspath(i.filepath), row["image"]) for i in bpy.data.images if i.filepath)
        # the generated keys: a take named by the row's prompt and seed, curves within the keys' tolerance
        action = head.animation_data.action
        assert action["posetalk_prompt"] == row["prompt"] and action["posetalk_seed"] == row["seed"]
        t = addon.sequencer.head_timing(bpy.context, head)
        assert len(pose["frames"]) == len(lips["frames"])
        n = t["n_frames"]  # Blender's sound strip may end a frame before the engine's last (partial) frame
        assert len(pose["frames"]) - 1 <= n <= len(pose["frames"])
        fcurves = addon.curves.find_fcurves(head)
        fh = head.posetalk.face_height
        keyed = 0
        for path, index, channel in addon.curves.POSE_FCURVES:
            fc = addon.curves.find_fcurve(fcurves, path, index)
            ci = pose["channels"].index(channel)
            tol = addon.curves.tolerance(channel, fh) * 1.01 + 1e-6
            for i, frame in enumerate(pose["frames"][:n]):
                want = addon.curves.pose_to_channel_value(channel, frame[ci], fh)
                assert math.isclose(fc.evaluate(t["first_frame"] + i), want, abs_tol=tol), (row_id, channel, i)
            keyed += len(fc.keyframe_points)
        assert 0 < keyed < n * len(addon.curves.POSE_FCURVES)  # sparse keys, not one per frame
        for ci, channel in enumerate(lips["channels"]):
            fc = addon.curves.find_fcurve(fcurves, f'["{channel}"]', 0)
            for i, frame in enumerate(lips["frames"][:n]):
                assert math.isclose(fc.evaluate(t["first_frame"] + i), frame[ci], abs_tol=addon.curves.MOUTH_TOL * 1.01)
        # the row's words and language on the head, its prompt in the panel: regenerating works from the file
        assert head.posetalk.dialogue == row.get("text", "") and head.posetalk.language == row.get("language", "en")
        assert scene.posetalk.prompt == row["prompt"] and scene.posetalk.render_size == SIZE


def test_batch_blend_rerun_does_no_work_and_bad_blender_is_one_line(batch_out: tuple[Path, Path]) -> None:
    manifest, out = batch_out
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.suffix == ".blend"}
    proc = _batch(str(manifest), "--out", str(out), "--workers", "1", "--blend", "--blender", sys.executable)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = json.loads(proc.stdout.splitlines()[0])
    assert plan["event"] == "plan" and plan["todo"] == 0 and plan["skipped_done"] == len(ROWS), plan
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.suffix == ".blend"} == before
    proc = _batch(str(manifest), "--out", str(out.parent / "other"), "--blend", "--blender", "/no/such/blender")
    assert proc.returncode == 2 and proc.stderr.strip() == "error: Blender not found: /no/such/blender", proc.stderr
    assert not (out.parent / "other").exists()
