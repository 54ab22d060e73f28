"""Check the add-on in Blender's UI: the modal jobs and the rendered strip in the Sequencer, with a screenshot.

Run it in a windowed Blender 5.0 (or 4.2+) with the PoseTalk extension installed (``make extension``):

    blender --python scripts/ui_check.py -- --out ui_check.png [--keep-open]

It builds a scene from the bundled example (sound strip at frame 10, talking head), runs Generate Motion,
Generate Lip Sync and Render Frames the way a click does (``INVOKE_DEFAULT``: modal operators with a timer,
Blender stays responsive), turns the largest area into the Sequencer, frames all strips, saves a screenshot
and prints a JSON line: the strips' channels and timing and whether the image strip sits above the sound
strip with the sound's start and length. Exit code 1 when a check fails. With ``-b`` (no window) the same
steps run blocking and the screenshot is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import bpy
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = "bl_ext.user_default.posetalk"


def parse() -> argparse.Namespace:
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    ap = argparse.ArgumentParser(prog="ui_check.py")
    ap.add_argument("--out", default=os.path.abspath("ui_check.png"), help="screenshot PNG")
    ap.add_argument("--image", default=os.path.join(ROOT, "examples", "portrait.png"))
    ap.add_argument("--audio", default=os.path.join(ROOT, "examples", "speech.wav"))
    ap.add_argument("--prompt", default="nods while talking, then looks to the left")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=75, help="frames of the sound strip to keep (short is quick)")
    ap.add_argument("--module", default=MODULE, help="the add-on's module name")
    ap.add_argument("--keep-open", action="store_true", help="leave Blender open after the check")
    return ap.parse_args(argv)


ARGS_MODULE = ["bl_ext.user_default.posetalk"]  # the add-on's module (--module)


def build_scene(args: argparse.Namespace) -> None:
    if args.module not in bpy.context.preferences.addons:
        bpy.ops.preferences.addon_enable(module=args.module)
    ARGS_MODULE[0] = args.module
    scene = bpy.context.scene
    for strip in list(_strips(scene) or []):
        _strips(scene).remove(strip)
    scene.render.fps, scene.render.fps_base = 25, 1.0
    sound = _strips(scene, create=True).new_sound("speech", os.path.abspath(args.audio), 1, 10)
    sound.frame_offset_end = max(0, sound.frame_duration - args.frames)
    scene.frame_start, scene.frame_end = sound.frame_final_start, sound.frame_final_end - 1
    assert bpy.ops.posetalk.create_rig(image_path=os.path.abspath(args.image), strip=sound.name) == {"FINISHED"}


def _strips(scene: bpy.types.Scene, create: bool = False):
    return sys.modules[ARGS_MODULE[0]].compat.strips(scene, create=create)  # the add-on's version differences


def report(args: argparse.Namespace, screenshot: str | None, timings: dict[str, float]) -> int:
    scene = bpy.context.scene
    strips = list(_strips(scene) or [])
    sound = next(s for s in strips if s.type == "SOUND")
    images = [s for s in strips if s.type == "IMAGE"]
    row = {
        "blender": bpy.app.version_string,
        "background": bpy.app.background,
        "sound": {"channel": sound.channel, "start": sound.frame_final_start, "frames": sound.frame_final_duration},
        "images": [
            {"name": s.name, "channel": s.channel, "start": s.frame_final_start, "frames": s.frame_final_duration}
            for s in images
        ],
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "screenshot": screenshot,
    }
    img = images[0] if len(images) == 1 else None
    row["ok"] = bool(
        img is not None
        and img.channel > sound.channel
        and img.frame_final_start == sound.frame_final_start
        and img.frame_final_duration == sound.frame_final_duration
        and (screenshot is None or os.path.getsize(screenshot) > 0)
    )
    print("ui_check: " + json.dumps(row), flush=True)
    return 0 if row["ok"] else 1


def run_blocking(args: argparse.Namespace) -> int:
    """No window: the same steps, each operator blocks (as in batch scripts)."""
    timings = {}
    try:
        build_scene(args)
        for name, call in _steps(args):
            t0 = time.monotonic()
            result = call("EXEC_DEFAULT")
            if result != {"FINISHED"}:
                raise RuntimeError(f"{name} ended {result}")
            timings[name] = time.monotonic() - t0
    except Exception as exc:  # noqa: BLE001 (a check: say what failed and exit 1)
        print(f"ui_check: FAILED: {exc!r}", flush=True)
        return 1
    return report(args, None, timings)


def _steps(args: argparse.Namespace):
    return [
        ("generate_motion", lambda mode: bpy.ops.posetalk.generate_motion(mode, prompt=args.prompt)),
        ("generate_lipsync", lambda mode: bpy.ops.posetalk.generate_lipsync(mode)),
        ("render_frames", lambda mode: bpy.ops.posetalk.render_frames(mode, size=args.size)),
    ]


def run_in_ui(args: argparse.Namespace) -> None:
    """With a window: each step is invoked like a click and runs modal; timers wait for it, then look."""
    steps = _steps(args)
    state = {"i": 0, "t0": 0.0, "timings": {}, "phase": "build", "slow": 0.0, "last": time.monotonic()}

    def window_override() -> dict:
        win = bpy.context.window_manager.windows[0]
        area = max(win.screen.areas, key=lambda a: a.width * a.height)
        region = next(r for r in area.regions if r.type == "WINDOW")
        return {"window": win, "area": area, "region": region}

    def finish(code: int) -> None:
        bpy.context.preferences.view.show_splash = state.get("splash", True)
        if args.keep_open:
            return
        if code:
            os._exit(code)  # Blender's own quit would exit 0; the engine process ends when its pipe closes
        with bpy.context.temp_override(**window_override()):
            bpy.ops.wm.quit_blender()

    def tick() -> float | None:
        now = time.monotonic()
        if state["phase"] == "wait":  # while a job runs, the UI keeps ticking (the operator is modal)
            state["slow"] = max(state["slow"], now - state["last"])
        state["last"] = now
        try:
            if state["phase"] == "build":
                build_scene(args)
                state["phase"] = "start"
            elif state["phase"] == "start":
                name, call = steps[state["i"]]
                state["t0"] = now
                with bpy.context.temp_override(**window_override()):
                    result = call("INVOKE_DEFAULT")
                if result != {"RUNNING_MODAL"}:
                    raise RuntimeError(f"{name} did not run modal: {result}")
                state["phase"] = "wait"
            elif state["phase"] == "wait":
                runner = sys.modules[args.module].runner
                if runner.busy():
                    return 0.1
                name = steps[state["i"]][0]
                job = runner.current
                if job is None or job.state != "done":
                    raise RuntimeError(f"{name} ended {getattr(job, 'state', None)}: {getattr(job, 'error', '')}")
                state["timings"][name] = now - state["t0"]
                state["i"] += 1
                state["phase"] = "start" if state["i"] < len(steps) else "look"
            elif state["phase"] == "look":
                o = window_override()
                workspace = o["window"].workspace
                if sys.modules[ARGS_MODULE[0]].compat.HAS_SEQUENCER_SCENE:  # the Sequencer shows this scene
                    workspace.sequencer_scene = bpy.context.scene
                o["area"].type = "SEQUENCE_EDITOR"
                o["area"].spaces.active.view_type = "SEQUENCER"
                state["phase"] = "frame"
                return 0.5  # let the new editor lay out
            elif state["phase"] == "frame":
                with bpy.context.temp_override(**window_override()):
                    bpy.ops.sequencer.view_all()
                state["phase"] = "shot"
                return 1.0  # let it redraw
            elif state["phase"] == "shot":
                path = os.path.abspath(args.out)
                if os.path.exists(path):
                    os.remove(path)
                with bpy.context.temp_override(**window_override()):
                    if bpy.ops.screen.screenshot(filepath=path) != {"FINISHED"}:
                        raise RuntimeError("the screenshot failed")
                shot = bpy.data.images.load(path)
                pixels = np.empty(len(shot.pixels), np.float32)
                shot.pixels.foreach_get(pixels)
                bpy.data.images.remove(shot)
                if float(pixels.std()) < 0.02:
                    raise RuntimeError("the screenshot is blank")
                state["timings"]["longest_ui_gap"] = state["slow"]
                finish(report(args, path, state["timings"]))
                return None
        except Exception as exc:  # noqa: BLE001 (a check: say what failed and exit 1)
            print(f"ui_check: FAILED: {exc!r}", flush=True)
            finish(1)
            return None
        return 0.1

    view = bpy.context.preferences.view
    splash, view.show_splash = view.show_splash, False  # the start-up splash would cover the screenshot
    bpy.app.timers.register(tick, first_interval=1.0, persistent=True)
    state["splash"] = splash


def main() -> None:
    args = parse()
    if bpy.app.background:
        sys.exit(run_blocking(args))
    run_in_ui(args)


main()
