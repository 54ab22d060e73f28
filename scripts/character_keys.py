"""Measure PoseTalk on characters: retarget fidelity (the head bone's evaluated world rotation against pose.json),
keys per second and max deviation of the sparse keys, shape keys against the mapped lips channels, and drawn
mouths' changes per second and holds, through the real extension (built zip, Blender's installer) and the real
worker, on the characters of ``blender_tests/bt_characters.py``. Prints JSON.

Usage: ``.venv/bin/python scripts/character_keys.py [--audio examples/speech.wav] [--fps 25] [--seeds 2]
[--prompts 3]`` (each run generates on the whole example line: a long job on a busy machine)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

from blender_addon import install_addon

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["nods while talking", "shakes the head, then looks up", "nods slowly, then looks to the left"]
RIGS = {  # builder, bind options, head bone (None: the object)
    "rigify": ("rigify_like", {"rig_preset": "RIGIFY", "mouth": "ARKIT"}, "head"),
    "mixamo": ("mixamo_like", {"rig_preset": "MIXAMO", "mouth": "OCULUS"}, "mixamorig:Head"),
    "custom_axes": ("custom_axis_rig", {"rig_preset": "CUSTOM", "head_bone": "Bip Head", "axis_pitch": "-Z",
                                        "axis_yaw": "X", "axis_roll": "Y"}, "Bip Head"),  # fmt: skip
    "object_head": ("shapekey_head", {"mouth": "CUSTOM", "mapping": json.dumps(
        {"Open": "mouth_open", "Wide": "mouth_wide", "Round": "mouth_round", "Closed": "lips_closed"})}, None),
}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", default=str(ROOT / "examples" / "speech.wav"))
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=len(PROMPTS), help="how many of the prompts to run")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="posetalk-character-"))
    pkg = install_addon(tmp)
    sys.path.insert(0, str(ROOT / "blender_tests"))
    import bpy  # noqa: PLC0415 (after BLENDER_USER_RESOURCES)
    import bt_characters  # noqa: PLC0415 (needs bpy)
    from mathutils import Matrix  # noqa: PLC0415

    def pose_turn(pitch: float, yaw: float, roll: float) -> Matrix:
        rx, ry, rz = (Matrix.Rotation(math.radians(a), 3, ax) for a, ax in ((-pitch, "X"), (-roll, "Y"), (yaw, "Z")))
        return rz @ rx @ ry

    def world(obj, bone):  # noqa: ANN001, ANN202
        m = obj.matrix_world if bone is None else obj.matrix_world @ obj.pose.bones[bone].matrix
        return m.to_3x3().normalized()

    def angle(a, b) -> float:  # noqa: ANN001
        return math.degrees((a @ b.transposed()).to_quaternion().angle)

    def scene_with(builder: str):  # noqa: ANN202
        bpy.ops.wm.read_homefile(use_empty=True)
        scene = bpy.context.scene
        scene.render.fps, scene.render.fps_base = args.fps, 1.0
        strip = pkg.compat.strips(scene, create=True).new_sound("speech", args.audio, 1, 1)
        built = getattr(bt_characters, builder)(scene)
        return scene, strip, built[0] if isinstance(built, tuple) else built

    out: dict = {"fps": args.fps, "audio": args.audio, "rigs": {}}
    for kind, (builder, options, bone) in RIGS.items():
        runs = []
        for prompt in PROMPTS[: args.prompts]:
            for seed in range(args.seeds):
                scene, strip, obj = scene_with(builder)
                bpy.ops.posetalk.bind_character(object=obj.name, **options)
                rest = world(obj, bone)
                bpy.ops.posetalk.generate_motion(rig=obj.name, prompt=prompt, seed=seed)
                pose = pkg.runner.current.result["pose"]["frames"]
                head = pkg.targets.Head(obj)
                fcurves = head.find_fcurves()
                first, n = strip.frame_final_start, strip.frame_final_duration
                keyed_err, sparse_err = 0.0, 0.0
                for i in range(n):
                    scene.frame_set(first + i)
                    got = world(obj, bone)
                    keyed_err = max(keyed_err, angle(got, pose_turn(*head.pose_at(fcurves, first + i)[:3]) @ rest))
                    sparse_err = max(sparse_err, angle(got, pose_turn(*pose[i][:3]) @ rest))
                # the retarget alone: pose.json keyed on every frame into a scratch layer
                dense = head.dense(pose[:n])
                for channel, values in zip(head.channels(), dense):
                    fc = fcurves.find(channel.data_path, index=channel.index)
                    fc.keyframe_points.clear()
                    fc.keyframe_points.add(n)
                    fc.keyframe_points.foreach_set("co", [v for i in range(n) for v in (first + i, values[i])])
                    for kp in fc.keyframe_points:
                        kp.interpolation = "LINEAR"
                    fc.update()
                dense_err = 0.0
                for i in range(n):
                    scene.frame_set(first + i)
                    dense_err = max(dense_err, angle(world(obj, bone), pose_turn(*pose[i][:3]) @ rest))
                runs.append({"prompt": prompt, "seed": seed, "keys_per_s": round(obj.posetalk.keys_per_second, 2),
                             "max_dev_deg": round(obj.posetalk.max_deviation, 3),
                             "retarget_err_deg": round(dense_err, 5), "keyed_pose_err_deg": round(keyed_err, 5),
                             "pose_json_err_deg": round(sparse_err, 3)})  # fmt: skip
        row = {"runs": runs, "retarget_max_err_deg": max(r["retarget_err_deg"] for r in runs),
               "pose_json_max_err_deg": max(r["pose_json_err_deg"] for r in runs),
               "mean_keys_per_s": round(sum(r["keys_per_s"] for r in runs) / len(runs), 2)}  # fmt: skip
        # lips on the same character: shape keys against the mapped channels
        scene, strip, obj = scene_with(builder)
        if options.get("mouth"):
            bpy.ops.posetalk.bind_character(object=obj.name, **options)
            bpy.ops.posetalk.generate_lipsync(rig=obj.name)
            stats = _lips_stats(pkg, obj, strip, scene)
            row["lips"] = {k: round(v, 4) for k, v in stats.items()}
        out["rigs"][kind] = row
    out["drawn_mouths"] = _drawn(pkg, bt_characters, scene_with, tmp)
    out["retarget_max_err_deg"] = max(r["retarget_max_err_deg"] for r in out["rigs"].values())
    pkg.runner.stop_engine()
    print(json.dumps(out))
    return 0


def _lips_stats(pkg, obj, strip, scene) -> dict:  # noqa: ANN001
    """Shape keys against the table applied to the engine's lips.json: max error and keys per second."""
    doc = pkg.runner.current.result["lips"]
    n, first = strip.frame_final_duration, strip.frame_final_start
    rows = [(r.target, r.source, r.factor) for r in obj.posetalk.mapping]
    want = pkg.mouth.mixed(rows, pkg.mouth.sources_of(doc, n), n)
    key = obj.posetalk.mouth_object.data.shape_keys
    worst = 0.0
    for i in range(n):
        scene.frame_set(first + i)
        worst = max(worst, max(abs(key.key_blocks[t].value - v[i]) for t, v in want.items()))
    fcurves = pkg.layers.layer_fcurves(key, obj)
    keys = (
        sum(len(fc.keyframe_points) for fc in fcurves) / len(fcurves) / (n / (scene.render.fps / scene.render.fps_base))
    )
    return {"targets": len(want), "max_err": worst, "keys_per_s": keys}


def _drawn(pkg, bt_characters, scene_with, tmp: Path) -> dict:  # noqa: ANN001
    """Drawn mouths (Grease Pencil drawings): changes per second and the shortest hold, per Hold setting."""
    out = {}
    for hold in (1, 2, 3):
        import bpy  # noqa: PLC0415

        scene, strip, _obj = scene_with("rigify_like")
        toon = bt_characters.gp_mouth_frames(scene)
        bpy.ops.posetalk.bind_character(object=toon.name, mouth="GP_FRAMES", hold_frames=hold)
        bpy.ops.posetalk.generate_lipsync(rig=toon.name)
        fc = pkg.layers.layer_fcurves(toon, toon)[0]
        first, n = strip.frame_final_start, strip.frame_final_duration
        values = [fc.evaluate(first + i) for i in range(n)]
        runs, start = [], 0
        for i in range(1, n + 1):
            if i == n or values[i] != values[start]:
                runs.append(i - start)
                start = i
        seconds = n / (scene.render.fps / scene.render.fps_base)
        out[f"hold_{hold}"] = {"changes_per_s": round((len(runs) - 1) / seconds, 2), "shortest_hold": min(runs[:-1])}
    return out


if __name__ == "__main__":
    sys.exit(main())
