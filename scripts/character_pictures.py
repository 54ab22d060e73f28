"""Regenerate the "Drive your own character" pictures of the README into ``docs/``: a simple character built here
(an armature with a neck and a head bone, a head mesh with ARKit-named shape keys) turning and speaking, and a
2D character (Grease Pencil drawings of the mouth shapes), each bound, driven from one prompt and the example
speech, and rendered headless with Workbench at several frames. Runs the real extension (built zip, Blender's
installer) and the real worker. Prints JSON (the frames shown, the head's turn and the mouth there).

Usage: ``.venv/bin/python scripts/character_pictures.py [--audio examples/speech.wav] [--out docs]``
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
PROMPT = "nods, then looks to the left and tilts the head"
FPS = 24
SIZE = 320
SHOWN = 8


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", default=str(ROOT / "examples" / "speech.wav"))
    parser.add_argument("--out", default=str(ROOT / "docs"))
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="posetalk-character-pictures-"))
    pkg = install_addon(tmp)
    sys.path.insert(0, str(ROOT / "blender_tests"))
    import bpy  # noqa: PLC0415 (after BLENDER_USER_RESOURCES)
    import bt_characters  # noqa: PLC0415 (needs bpy)

    report = {}
    # 3D: armature + head mesh with shape keys ---------------------------------------------------------------------
    scene, strip = _scene(bpy, pkg, args.audio)
    rig, face = bt_characters.rigify_like(scene)
    body = _body(bpy, bt_characters, scene, rig)
    _camera(bpy, scene, (0, -1.9, 1.2), 0.6)
    bpy.ops.posetalk.bind_character(object=rig.name, rig_preset="RIGIFY", mouth="ARKIT", mouth_object=face.name)
    bpy.ops.posetalk.generate_motion(rig=rig.name, prompt=PROMPT, seed=args.seed)
    bpy.ops.posetalk.generate_lipsync(rig=rig.name)
    frames = _interesting_frames(scene, strip, rig, face)
    shots, labels = [], []
    for f in frames:
        scene.frame_set(f)
        turn = pkg.targets.Head(rig).pose_at(pkg.targets.Head(rig).find_fcurves(), f)
        jaw = face.data.shape_keys.key_blocks["jawOpen"].value
        funnel = face.data.shape_keys.key_blocks["mouthFunnel"].value
        shots.append(_render(bpy, scene, tmp / f"char_{f:04d}.png"))
        labels.append(f"frame {f}: yaw {turn[1]:+.0f}° pitch {turn[0]:+.0f}° roll {turn[2]:+.0f}°\n"
                      f"jawOpen {jaw:.2f}  mouthFunnel {funnel:.2f}")  # fmt: skip
        report.setdefault("character", []).append({"frame": f, "pose": [round(v, 2) for v in turn[:3]],
                                                   "jawOpen": round(jaw, 3), "mouthFunnel": round(funnel, 3)})  # fmt: skip
    title = f'Bind Character (Rigify preset, ARKit shape keys) · "{PROMPT}" · seed {args.seed}'
    _sheet(shots, labels, title, out / "character.png")
    del body

    # 2D: Grease Pencil drawings ------------------------------------------------------------------------------------
    scene, strip = _scene(bpy, pkg, args.audio)
    toon = bt_characters.gp_mouth_frames(scene)
    _camera(bpy, scene, (0, -3.0, 0.1), 1.6)
    bpy.ops.posetalk.bind_character(object=toon.name, mouth="GP_FRAMES", hold_frames=2, use_location=True)
    bpy.ops.posetalk.generate_motion(rig=toon.name, prompt=PROMPT, seed=args.seed)
    bpy.ops.posetalk.generate_lipsync(rig=toon.name)
    offset = pkg.layers.layer_fcurves(toon, toon).find('modifiers["PoseTalk Mouth"].offset')
    changes = sorted({round(kp.co.x) for kp in offset.keyframe_points})
    picks = [changes[round(k * (len(changes) - 1) / (SHOWN - 1))] for k in range(SHOWN)]
    shots, labels = [], []
    for f in picks:
        scene.frame_set(f)
        drawing = int(offset.evaluate(f))
        shape = bt_characters.RHUBARB_SHAPES[drawing - 1]
        shots.append(_render(bpy, scene, tmp / f"toon_{f:04d}.png"))
        labels.append(f"frame {f}: drawing {drawing} (shape {shape})")
        report.setdefault("2d", []).append({"frame": f, "drawing": drawing, "shape": shape})
    _sheet(
        shots,
        labels,
        "2D: one Grease Pencil drawing per mouth shape, stepped, held ≥ 2 frames",
        out / "character_2d.png",
    )
    pkg.runner.stop_engine()
    report["pictures"] = [str(out / "character.png"), str(out / "character_2d.png")]
    print(json.dumps(report))
    return 0


def _scene(bpy, pkg, audio: str):  # noqa: ANN001, ANN202
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    strip = pkg.compat.strips(scene, create=True).new_sound("speech", audio, 1, 1)
    scene.frame_start, scene.frame_end = strip.frame_final_start, strip.frame_final_end - 1
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "MATERIAL"
    scene.render.resolution_x = scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    world = bpy.data.worlds.new("World")
    world.color = (0.42, 0.47, 0.55)
    scene.world = world
    return scene, strip


def _body(bpy, bt_characters, scene, rig):  # noqa: ANN001, ANN202
    """A torso and shoulders on the rig's torso bone, so the head turns on a body."""
    import bmesh  # noqa: PLC0415

    bm = bmesh.new()
    bmesh.ops.create_cone(bm, cap_ends=True, segments=24, radius1=0.32, radius2=0.1, depth=0.8)
    mesh = bpy.data.meshes.new("Body")
    bm.to_mesh(mesh)
    bm.free()
    mat = bpy.data.materials.new("shirt")
    mat.diffuse_color = (0.2, 0.35, 0.6, 1.0)
    mesh.materials.append(mat)
    body = bpy.data.objects.new("Body", mesh)
    scene.collection.objects.link(body)
    body.location = (0, 0, 0.76)
    bt_characters._parent_to_bone(body, rig, "torso")
    return body


def _camera(bpy, scene, location: tuple, ortho: float) -> None:  # noqa: ANN001
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = location, (math.pi / 2, 0.0, 0.0)
    cam.data.type, cam.data.ortho_scale = "ORTHO", ortho
    scene.camera = cam


def _interesting_frames(scene, strip, rig, face) -> list[int]:  # noqa: ANN001
    """Frames spread over the line, each moved to the most turned or most open frame near it."""
    first, n = strip.frame_final_start, strip.frame_final_duration
    key = face.data.shape_keys.key_blocks
    picks = []
    for k in range(SHOWN):
        window = range(first + k * n // SHOWN, first + (k + 1) * n // SHOWN)
        score = {}
        for f in window:
            scene.frame_set(f)
            q = rig.pose.bones["head"].matrix.to_quaternion()
            score[f] = q.angle + (key["jawOpen"].value if k % 2 else 0.0)
        picks.append(max(score, key=score.get))
    return picks


def _render(bpy, scene, path: Path) -> Path:  # noqa: ANN001
    scene.render.filepath = str(path)
    scene.render.image_settings.file_format = "PNG"
    bpy.ops.render.render(write_still=True)
    return path


def _sheet(shots: list[Path], labels: list[str], title: str, out: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    cols = 4
    rows = math.ceil(len(shots) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.5 * rows))
    for ax in axes.flat:
        ax.axis("off")
    for ax, shot, label in zip(axes.flat, shots, labels):
        ax.imshow(plt.imread(str(shot)))
        ax.set_title(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
