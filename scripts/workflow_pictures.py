"""Regenerate the animator-loop pictures of the README into ``docs/``: the head's curves before and after a
pinned regeneration, read from the rig as Blender evaluates it (pins marked), and rendered frames at the pins.
Runs the real extension (built zip, Blender's installer) and the real worker. Prints JSON (pin errors, the
largest acceleration jump near pins and elsewhere, picture sizes).

Usage: ``.venv/bin/python scripts/workflow_pictures.py [--audio examples/speech.wav] [--out docs]``
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
PROMPT = "nods slowly, then looks to the left"
FPS = 24
N_FRAMES = 96


def jerk(values: list[float]) -> list[float]:
    """|change of the acceleration| per frame (degrees/frame³)."""
    n = len(values)
    acc = [values[i + 1] - 2 * values[i] + values[i - 1] if 0 < i < n - 1 else 0.0 for i in range(n)]
    return [abs(acc[i + 1] - acc[i]) if 0 < i < n - 2 else 0.0 for i in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", default=str(ROOT / "examples" / "speech.wav"))
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="posetalk-workflow-"))
    pkg = install_addon(tmp)
    import bpy  # noqa: PLC0415 (after BLENDER_USER_RESOURCES)
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.image as mpimg  # noqa: PLC0415
    import matplotlib.pyplot as plt  # noqa: PLC0415

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    strip = pkg.compat.strips(scene, create=True).new_sound("speech", args.audio, 1, 1)
    strip.frame_offset_end = max(0, strip.frame_duration - N_FRAMES)
    bpy.ops.posetalk.create_rig(image_path=str(ROOT / "examples" / "portrait.png"))
    head = scene.posetalk.rig
    first, n = strip.frame_final_start, strip.frame_final_duration

    def evaluated() -> dict[str, list[float]]:
        """Yaw and pitch in degrees, frame by frame, as Blender evaluates the rig."""
        rows = {"yaw": [], "pitch": []}
        for i in range(n):
            scene.frame_set(first + i)
            rows["yaw"].append(math.degrees(head.rotation_euler.y))
            rows["pitch"].append(-math.degrees(head.rotation_euler.x))
        return rows

    bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=1)
    generated = evaluated()
    fcs = pkg.curves.find_fcurves(head)
    yaw, pitch = fcs.find("rotation_euler", index=1), fcs.find("rotation_euler", index=0)
    inner = [round(kp.co.x) for kp in yaw.keyframe_points if first + 12 < kp.co.x < first + n - 12]
    pins = []  # (channel, frame, degrees)
    for frame, df, dv in ((inner[0], 3, 8.0), (inner[-1], -3, -7.0)):  # the animator drags two keys ...
        kp = next(k for k in yaw.keyframe_points if round(k.co.x) == frame)
        kp.co = (kp.co.x + df, kp.co.y + math.radians(dv))
        kp.handle_left = (kp.handle_left.x + df, kp.handle_left.y + math.radians(dv))
        kp.handle_right = (kp.handle_right.x + df, kp.handle_right.y + math.radians(dv))
        kp.handle_left_type, kp.handle_right_type = "AUTO_CLAMPED", "AUTO_CLAMPED"  # dragged: its type stays
        yaw.update()
        pins.append(("yaw", frame + df, math.degrees(yaw.evaluate(frame + df))))
    add = first + n // 2  # ... and adds one: chin up
    pitch.keyframe_points.insert(add, math.radians(-9.0), keyframe_type="KEYFRAME")
    pins.append(("pitch", add, 9.0))
    edited = evaluated()
    bpy.ops.posetalk.generate_motion(prompt=PROMPT, seed=2)  # regenerate around the pins
    after = evaluated()

    errors = [abs(after[c][f - first] - v) for c, f, v in pins]
    near, rest = [], []  # (jerk, channel, frame)
    for c in ("yaw", "pitch"):
        j = jerk(after[c])
        close = {i for pc, f, _ in pins if pc == c for i in range(f - first - 3, f - first + 4)}
        near += [(j[i], c, first + i) for i in close if 0 <= i < n]
        rest += [(j[i], c, first + i) for i in range(n) if i not in close]

    fig, axes = plt.subplots(2, 1, figsize=(7.5, 4.6), sharex=True, dpi=100)
    frames = list(range(first, first + n))
    for ax, c in zip(axes, ("yaw", "pitch")):
        ax.plot(frames, generated[c], color="0.6", lw=1.2, ls="--", label="generated (seed 1)")
        ax.plot(frames, edited[c], color="tab:blue", lw=1.4, label="after the animator's edits")
        ax.plot(frames, after[c], color="tab:orange", lw=2.0, label="regenerated around the pins (seed 2)")
        for pc, f, v in pins:
            if pc == c:
                ax.plot([f], [v], marker="D", color="crimson", ms=8, ls="none")
                ax.annotate("pin", (f, v), textcoords="offset points", xytext=(6, 6), color="crimson")
        ax.set_ylabel(f"{c} (°)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    axes[1].set_xlabel("frame (as Blender evaluates the rig)")
    fig.suptitle("Keep My Keys: the motion is regenerated around the animator's keys", fontsize=10)
    fig.tight_layout()
    curves_png = out / "workflow_curves.png"
    fig.savefig(curves_png)
    plt.close(fig)

    frames_dir = tmp / "frames"
    bpy.ops.posetalk.render_frames(size=160, out=str(frames_dir), blinks=False)
    fig, axes = plt.subplots(1, len(pins), figsize=(2.3 * len(pins), 2.6), dpi=100)
    for ax, (c, f, v) in zip(axes, sorted(pins, key=lambda p: p[1])):
        ax.imshow(mpimg.imread(frames_dir / f"frame_{f - first + 1:05d}.png"))
        ax.set_title(f"frame {f}: {c} {v:+.1f}°", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    pins_png = out / "workflow_pins.png"
    fig.savefig(pins_png)
    plt.close(fig)

    report = {
        "frames": n,
        "pins": [{"channel": c, "frame": f, "deg": round(v, 3)} for c, f, v in pins],
        "pin_error_deg": round(max(errors), 5),
        "jerk_near_pins": {"max": round(max(near)[0], 4), "at": max(near)[1:]},
        "jerk_elsewhere": {"max": round(max(rest)[0], 4), "at": max(rest)[1:]},
        "pictures": {str(p.relative_to(ROOT)): p.stat().st_size for p in (curves_png, pins_png)},
    }
    print(json.dumps(report, indent=1))
    pkg.runner.stop_engine()
    return 0


if __name__ == "__main__":
    sys.exit(main())
