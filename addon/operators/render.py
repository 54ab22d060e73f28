"""Render Frames (the engine renders the head as Blender evaluates its curves, into an image strip), Render All
Heads (each head of the scene in turn) and the render cache's Clear Unused Renders."""

from __future__ import annotations

import math
import os
import re
import time
from typing import Any

import bpy

from .. import curves, prefs, render_cache, rig, runner, sequencer, settings, targets
from ..errors import UserError
from ..runner import EngineJobOperator
from .common import HeadOption, head, poll, still_there

POSE_FORMAT = "posetalk.pose/1"
LIPS_FORMAT = "posetalk.lips/1"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "rig"


def sample_curves(
    context: bpy.types.Context, obj: bpy.types.Object, t: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Step the scene through the strip's frames and read the head's evaluated transforms and mouth values
    (exactly as Blender evaluates them: edits, NLA and drivers included) as pose and lips documents."""
    scene = context.scene
    fh = obj.posetalk.face_height
    fcurves = curves.find_fcurves(obj)
    mouth = [
        c
        for c in (*curves.MOUTH_CHANNELS, curves.BLINK_CHANNEL)
        if fcurves is not None and curves.find_fcurve(fcurves, f'["{c}"]') is not None
    ]
    pose_rows, lips_rows = [], []
    saved = scene.frame_current, scene.frame_subframe
    try:
        for i in range(t["n_frames"]):
            scene.frame_set(t["first_frame"] + i)
            rx, ry, rz = obj.rotation_euler
            sx, sy, _sz = obj.scale
            pose_rows.append(
                [
                    round(curves.channel_value_to_pose("pitch", rx, fh), 5),
                    round(curves.channel_value_to_pose("yaw", ry, fh), 5),
                    round(curves.channel_value_to_pose("roll", rz, fh), 5),
                    round(obj.location.x / fh, 6),
                    round(obj.location.y / fh, 6),
                    round(math.sqrt(max(sx * sy, 1e-12)), 6),
                ]
            )
            if mouth:
                lips_rows.append([round(min(1.0, max(0.0, float(obj.get(c, 0.0)))), 5) for c in mouth])
    finally:
        scene.frame_set(saved[0], subframe=saved[1])
    meta = {"source": "blender", "rig": obj.name}
    pose = {"format": POSE_FORMAT, "fps": t["fps"], "channels": curves.POSE_CHANNELS, "frames": pose_rows, "meta": meta}
    if not mouth:
        return pose, None
    if mouth[0] != "mouth_open":  # the format wants mouth_open first
        mouth.insert(0, "mouth_open")
        lips_rows = [[0.0, *row] for row in lips_rows]
    lips = {"format": LIPS_FORMAT, "fps": t["fps"], "channels": mouth, "frames": lips_rows, "meta": meta}
    return pose, lips


def _portrait_file(obj: bpy.types.Object) -> str:
    image = obj.posetalk.image
    if image is None:
        raise UserError(f"{obj.name} has no portrait image")
    return sequencer.external_file(image, f"the portrait {image.name!r} of {obj.name}", "the portrait image")


def _out_folder(obj: bpy.types.Object, out: str) -> str:
    """``out`` (the animator's folder), else a new folder of the cache for this render."""
    if out:
        folder = os.path.normpath(bpy.path.abspath(out))
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = base = os.path.join(prefs.cache_dir(), "render", f"{_safe(obj.name)}-{stamp}")
        k = 2
        while os.path.exists(folder):  # two renders within a second get their own folders
            folder, k = f"{base}-{k}", k + 1
    try:
        os.makedirs(os.path.dirname(folder), exist_ok=True)  # the engine creates the folder itself
    except OSError as exc:
        raise UserError(f"cannot create the output folder {folder}: {exc.strerror}") from None
    return folder


class RenderJob(
    settings.operator_mixin(settings.RenderSettings),
    settings.operator_mixin(settings.MotionSettings, only=("seed",)),
    EngineJobOperator,
):
    """The render job of one head: the request (its curves as Blender evaluates them) and the image strip."""

    job_op = "render"

    def request(self, context: bpy.types.Context, obj: bpy.types.Object, out: str = "") -> dict[str, Any]:
        if targets.is_character(obj):
            raise UserError(
                f"{obj.name} is a character: render it with Blender's own render (Render Frames renders portraits)"
            )
        t = sequencer.head_timing(context, obj)
        image_path = _portrait_file(obj)
        pose, lips = sample_curves(context, obj, t)
        params: dict[str, Any] = {
            "image": image_path,
            "pose": pose,
            "out": _out_folder(obj, out),
            "device": prefs.device(),
            "seed": settings.value(self, context, "seed"),
            "cache_dir": os.path.join(prefs.cache_dir(), "portraits"),
        }
        for name, (op, engine_name) in settings.ENGINE_PARAMS.items():
            if op == "render":
                params[engine_name] = settings.value(self, context, name)
        if lips is not None:
            params["lips"] = lips
        self._state = {"head": obj.name, "timing": t, "cached": not out}
        return params

    def apply(self, context: bpy.types.Context, result: dict[str, Any]) -> None:
        st = self._state
        scene = context.scene
        obj = still_there(context, st)
        folder = result.get("frames_dir") or ""
        pattern = result.get("pattern") or "frame_%05d.png"
        n = int(result.get("n_frames") or 0)
        names = [os.path.basename(pattern % (i + 1)) if "%" in pattern else f"frame_{i + 1:05d}.png" for i in range(n)]
        if n == 0 or not all(os.path.isfile(os.path.join(folder, nm)) for nm in (names[0], names[-1])):
            raise UserError(f"the engine's frames are missing in {folder!r}")
        t = st["timing"]
        strip = sequencer.place_render_strip(scene, obj, folder, names, t["channel"], t["first_frame"])
        obj.posetalk.render_strip = strip.name
        pruned = freed = 0
        if st["cached"]:  # the animator's own Output Folder is theirs: never marked, never pruned
            render_cache.mark(folder, obj)
            pruned, freed = render_cache.prune(obj)
        self.stats = {"frames": n, "folder": folder, "strip": strip.name, "channel": strip.channel, "pruned": pruned}
        msg = f"PoseTalk: rendered {n} frames into strip {strip.name!r} (channel {strip.channel})"
        if pruned:
            msg += f"; deleted {pruned} older render(s) from the cache ({render_cache.human_size(freed)})"
        self.report({"INFO"}, msg)


class POSETALK_OT_render_frames(RenderJob, HeadOption, bpy.types.Operator):
    """Render the talking head as Blender evaluates its curves, into an image strip above the sound strip"""

    bl_idname = "posetalk.render_frames"
    bl_label = "Render Frames"
    bl_options = {"REGISTER", "UNDO"}

    out: bpy.props.StringProperty(
        name="Output Folder", subtype="DIR_PATH", description="Default: the cache folder", options={"SKIP_SAVE"}
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return poll(cls, context, need_plane=True)

    def build(self, context: bpy.types.Context) -> dict[str, Any]:
        return self.request(context, head(context, self.rig), self.out)


class POSETALK_OT_render_all(RenderJob, bpy.types.Operator):
    """Render every talking head of the scene, one after another, each into its image strip (one progress bar,
    one cancel)"""

    bl_idname = "posetalk.render_all"
    bl_label = "Render All Heads"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if runner.busy():
            cls.poll_message_set("A PoseTalk job is running: wait for it, or press Esc / Cancel")
            return False
        if not any(rig.is_rig(o) for o in context.scene.objects):
            cls.poll_message_set("No talking head in the scene")
            return False
        return poll(cls, context, need_strip=False)

    def build(self, context: bpy.types.Context) -> dict[str, Any]:
        heads = sorted((o for o in context.scene.objects if rig.is_rig(o)), key=lambda o: o.name)
        if not heads:
            raise UserError("no talking head in the scene")
        for obj in heads:  # every head's inputs checked before the first render starts
            sequencer.head_timing(context, obj)
            _portrait_file(obj)
        self._queue = [o.name for o in heads]
        self._done: list[str] = []
        return self.request(context, heads[0])

    def job_label(self) -> str:
        return f"{self.bl_label} {len(self._done) + 1}/{len(self._queue)}: {self._state['head']}"

    def apply(self, context: bpy.types.Context, result: dict[str, Any]) -> None:
        super().apply(context, result)
        self._done.append(self._state["head"])

    def next_params(self, context: bpy.types.Context) -> dict[str, Any] | None:
        if len(self._done) == len(self._queue):
            self.report({"INFO"}, f"PoseTalk: rendered {len(self._done)} head(s): {', '.join(self._done)}")
            return None
        return self.request(context, head(context, self._queue[len(self._done)]))


class POSETALK_OT_clear_render_cache(bpy.types.Operator):
    """Delete the rendered frames in the cache folder that no strip of the open file shows"""

    bl_idname = "posetalk.clear_render_cache"
    bl_label = "Clear Unused Renders"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if runner.busy():
            cls.poll_message_set("A PoseTalk job is running")
            return False
        return True

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        folders = render_cache.unused()
        if not folders:
            self.report({"INFO"}, "PoseTalk: no unused renders in the cache")
            return {"CANCELLED"}
        size = sum(render_cache.folder_bytes(f) for f in folders)
        title = f"Delete {len(folders)} unused render(s), {render_cache.human_size(size)}?"
        message = "Strips in other .blend files that show these frames will show missing frames."
        return context.window_manager.invoke_confirm(self, event, title=title, message=message, icon="WARNING")

    def execute(self, context: bpy.types.Context) -> set[str]:
        count, freed = render_cache.clear_unused()
        self.report({"INFO"}, f"PoseTalk: deleted {count} render(s), {render_cache.human_size(freed)}")
        return {"FINISHED"}


classes = (POSETALK_OT_render_frames, POSETALK_OT_render_all, POSETALK_OT_clear_render_cache)
