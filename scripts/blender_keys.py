"""Measure the add-on's sparse keys: keys per second and max deviation from the engine's dense pose, per
prompt, through the real extension (built zip, Blender's installer) and the real worker. Prints JSON.

Usage: ``.venv/bin/python scripts/blender_keys.py [--audio examples/speech.wav] [--fps 25] [--long 60]``
(``--long S`` also times a generation on S seconds of speech, the speech repeated with sox).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from blender_addon import install_addon

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = [
    "nods while talking",
    "shakes the head, then looks up",
    "calm and still",
    "nods slowly, then looks to the left",
    "energetic, nods and shakes a lot",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", default=str(ROOT / "examples" / "speech.wav"))
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--long", type=float, default=60.0)
    parser.add_argument("--backend", default="auto", help="pose backend (auto: the engine's default)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="posetalk-keys-"))
    pkg = install_addon(tmp)
    import bpy  # noqa: PLC0415 (after BLENDER_USER_RESOURCES)

    def scene_with(audio: str):
        bpy.ops.wm.read_homefile(use_empty=True)
        scene = bpy.context.scene
        scene.render.fps, scene.render.fps_base = args.fps, 1.0
        strip = pkg.compat.strips(scene, create=True).new_sound("speech", audio, 1, 1)
        portrait = ROOT / "examples" / "portrait.png"
        bpy.ops.posetalk.create_rig(image_path=str(portrait))
        return scene, strip, scene.posetalk.rig

    rows = []
    for prompt in PROMPTS:
        for seed in range(args.seeds):
            scene, strip, head = scene_with(args.audio)
            t0 = time.perf_counter()
            bpy.ops.posetalk.generate_motion(prompt=prompt, seed=seed, backend=args.backend)
            wall = time.perf_counter() - t0
            seconds = strip.frame_final_duration / args.fps
            fcs = pkg.curves.find_fcurves(head)
            per = {}
            for path, index, channel in pkg.curves.POSE_FCURVES[:6]:
                per[channel] = round(len(fcs.find(path, index=index).keyframe_points) / seconds, 2)
            rows.append({"prompt": prompt, "seed": seed, "keys_per_s": per, "max_keys_per_s": max(per.values()),
                         "mean_keys_per_s": round(head.posetalk.keys_per_second, 2),
                         "max_dev_deg": round(head.posetalk.max_deviation, 3), "seconds": round(wall, 2)})  # fmt: skip
    out = {
        "fps": args.fps,
        "backend": args.backend,
        "audio": args.audio,
        "runs": rows,
        "worst_channel_keys_per_s": max(r["max_keys_per_s"] for r in rows),
        "mean_keys_per_s": round(sum(r["mean_keys_per_s"] for r in rows) / len(rows), 2),
        "max_dev_deg": max(r["max_dev_deg"] for r in rows),
    }
    if args.long > 0:
        long_wav = tmp / "long.wav"
        dur = float(subprocess.run(["soxi", "-D", args.audio], capture_output=True, text=True, check=True).stdout)
        reps = max(0, math.ceil(args.long / dur) - 1)
        subprocess.run(["sox", args.audio, str(long_wav), "repeat", str(reps), "trim", "0", str(args.long)], check=True)
        scene, strip, head = scene_with(str(long_wav))
        t0 = time.perf_counter()
        bpy.ops.posetalk.generate_motion(prompt="nods while talking", seed=0, backend=args.backend)
        out["long"] = {"seconds_audio": args.long, "generate_wall_s": round(time.perf_counter() - t0, 2),
                       "mean_keys_per_s": round(head.posetalk.keys_per_second, 2),
                       "max_dev_deg": round(head.posetalk.max_deviation, 3)}  # fmt: skip
    pkg.runner.stop_engine()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
