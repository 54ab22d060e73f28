"""Headless PoseTalk batch, one talking head per run (the example of the README's headless section).

    blender -b --python-exit-code 1 --python batch_script.py -- \
        --image portrait.png --audio speech.wav --prompt "nods, then looks left" --out talk.blend [--lips] [--mp4 talk.mp4]

Builds a scene (sound strip, rig), generates motion (and lip sync), optionally renders the frames and the
sequencer to MP4, saves the .blend. Any failure raises, so Blender exits with code 1.

Character mode drives a character of an existing .blend instead of a portrait (``--blend`` opens it; with
``blender -b char.blend`` it is open already):

    blender -b char.blend --python-exit-code 1 --python batch_script.py -- --character Armature \
        --rig-preset MIXAMO --mouth OCULUS --mouth-object Head --audio line.wav --prompt "nods" --lips --out shot.blend

``--mp4`` then renders the scene with its own camera and render engine, with the sound.
"""

import argparse
import importlib
import os
import sys

import bpy

MODULE = "bl_ext.user_default.posetalk"


def main() -> None:
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    parser = argparse.ArgumentParser(prog="batch_script.py")
    parser.add_argument("--image", help="portrait for a talking-head plane (or --character)")
    parser.add_argument("--blend", help="character mode: open this .blend first")
    parser.add_argument("--character", help="character mode: the armature or head object to bind")
    parser.add_argument("--head-bone", default="")
    parser.add_argument("--neck-bone", default="")
    parser.add_argument("--rig-preset", default="AUTO", choices=["AUTO", "RIGIFY", "MIXAMO", "AUTO_RIG_PRO", "CUSTOM"])
    parser.add_argument("--mouth", default="NONE", help="NONE, ARKIT, OCULUS, RHUBARB, CUSTOM, ACTIONS, GP_LAYERS, ...")
    parser.add_argument("--mouth-object", default="")
    parser.add_argument("--mapping", default="", help="the mouth table as JSON (CUSTOM)")
    parser.add_argument("--bake", action="store_true", help="character mode: bake the result into one action")
    parser.add_argument("--audio", required=True)
    parser.add_argument("--prompt", default="nods while talking")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--start", type=int, default=1, help="frame where the sound strip starts")
    parser.add_argument("--lips", action="store_true", help="also generate lip sync")
    parser.add_argument("--mp4", help="render the frames and the sequencer to this MP4")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", required=True, help=".blend to save")
    args = parser.parse_args(argv)

    if bool(args.image) == bool(args.character):
        parser.error("give --image (a portrait) or --character (an object of the .blend)")
    if args.blend:
        bpy.ops.wm.open_mainfile(filepath=os.path.abspath(args.blend))
    if MODULE not in bpy.context.preferences.addons:
        bpy.ops.preferences.addon_enable(module=MODULE)
    if not args.character:
        bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = args.fps, 1.0
    compat = importlib.import_module(MODULE + ".compat")  # the add-on's Blender-version differences
    sound = compat.strips(scene, create=True).new_sound("speech", os.path.abspath(args.audio), 1, args.start)
    scene.frame_start, scene.frame_end = sound.frame_final_start, sound.frame_final_end - 1

    if args.character:
        bpy.ops.posetalk.bind_character(
            object=args.character, strip=sound.name, head_bone=args.head_bone, neck_bone=args.neck_bone,
            rig_preset=args.rig_preset, mouth=args.mouth, mouth_object=args.mouth_object, mapping=args.mapping,
        )  # fmt: skip
    else:
        bpy.ops.posetalk.create_rig(image_path=os.path.abspath(args.image), strip=sound.name)
    bpy.ops.posetalk.generate_motion(prompt=args.prompt, seed=args.seed)
    if args.lips:
        bpy.ops.posetalk.generate_lipsync()
    head = scene.posetalk.rig
    print(
        f"posetalk: {head.name}: {head.posetalk.keys_per_second:.2f} keys/s, max {head.posetalk.max_deviation:.2f} deg"
    )
    if args.bake:
        bpy.ops.posetalk.bake_take()
    if args.mp4:
        r = scene.render
        if not args.character:
            bpy.ops.posetalk.render_frames(size=args.size)
            r.resolution_x = r.resolution_y = args.size
            r.resolution_percentage = 100
        compat.set_video_output(r)
        r.use_file_extension = False
        r.filepath = os.path.abspath(args.mp4)
        bpy.ops.render.render(animation=True)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath(args.out))


main()
