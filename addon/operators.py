"""The operators (the stable scripting API of DESIGN.md): create_rig, generate_motion, generate_lipsync,
render_frames, cancel, stop_engine. Each is one undo step; engine-backed ones change the scene only when the
engine's result arrives.
"""

from __future__ import annotations

import math
import os
import re
import time
from typing import Any

import bpy

from . import curves, prefs, rig, runner
from .engine_client import check_engine
from .runner import EngineJobOperator, UserError

POSE_FORMAT = "posetalk.pose/1"
LIPS_FORMAT = "posetalk.lips/1"


# poll helpers --------------------------------------------------------------------------------------------------
def why_not(context: bpy.types.Context, need_strip: bool = True, need_engine: bool = True, rig_name: str = "") -> str:
    """Why an engine operator cannot run now ('' when it can)."""
    if runner.busy():
        return "A PoseTalk job is running: wait for it, or press Esc / Cancel"
    head = rig.find_rig(context, rig_name)
    if head is None:
        return "No talking head in the scene: create one first (PoseTalk > Create Talking Head)"
    if need_strip and rig.rig_strip(context.scene, head) is None:
        return f"{head.name} has no sound strip: add one in the Sequencer and link it in the PoseTalk panel"
    if need_engine:
        reason = check_engine(prefs.engine_python(), prefs.engine_root())
        if reason:
            return reason[0].upper() + reason[1:]
    return ""


def _poll(cls: type, context: bpy.types.Context, **kw: Any) -> bool:
    reason = why_not(context, **kw)
    if reason:
        cls.poll_message_set(reason)
    return not reason


def _setting(op: bpy.types.Operator, context: bpy.types.Context, name: str, scene_name: str | None = None) -> Any:
    """The operator's property when set by the caller, else the panel's (scene) value."""
    if op.properties.is_property_set(name):
        return getattr(op, name)
    return getattr(context.scene.posetalk, scene_name or name)


def _head(context: bpy.types.Context, name: str) -> bpy.types.Object:
    head = rig.find_rig(context, name)
    if head is None:
        raise UserError(f"no talking head named {name!r}" if name else "no talking head in the scene: create one first")
    return head


def _timing(context: bpy.types.Context, head: bpy.types.Object) -> dict[str, Any]:
    strip = rig.rig_strip(context.scene, head)
    if strip is None:
        raise UserError(f"{head.name} has no sound strip: link one in the PoseTalk panel")
    try:
        return rig.strip_timing(context.scene, strip)
    except rig.RigError as exc:
        raise UserError(str(exc)) from None


def pose_at(fcurves: Any, frame: float, face_height: float) -> list[float]:
    """The pose (degrees, face heights, factor) the curves give at ``frame`` (rest values where none)."""
    row = []
    for channel in curves.POSE_CHANNELS:
        if channel == "scale":
            values = []
            for i in (0, 1):
                fc = curves.find_fcurve(fcurves, "scale", i)
                values.append(fc.evaluate(frame) if fc else 1.0)
            row.append(math.sqrt(max(values[0] * values[1], 0.0)))
            continue
        path, index, _ = next(p for p in curves.POSE_FCURVES if p[2] == channel)
        fc = curves.find_fcurve(fcurves, path, index)
        row.append(curves.channel_value_to_pose(channel, fc.evaluate(frame), face_height) if fc else 0.0)
    return row


# create_rig ----------------------------------------------------------------------------------------------------
class POSETALK_OT_create_rig(bpy.types.Operator):
    """Create a camera-facing talking-head plane from a portrait, linked to a sound strip"""

    bl_idname = "posetalk.create_rig"
    bl_label = "Create Talking Head"
    bl_options = {"REGISTER", "UNDO"}

    image_path: bpy.props.StringProperty(
        name="Image", subtype="FILE_PATH", description="Portrait image", options={"SKIP_SAVE"}
    )
    strip: bpy.props.StringProperty(
        name="Sound Strip", description="Sound strip to link (default: the active one)", options={"SKIP_SAVE"}
    )
    name: bpy.props.StringProperty(name="Name", default="PoseTalk Head", options={"SKIP_SAVE"})
    distance: bpy.props.FloatProperty(
        name="Distance", default=2.0, min=0.01, description="Distance from the camera", options={"SKIP_SAVE"}
    )
    pivot_height: bpy.props.FloatProperty(
        name="Neck Pivot",
        default=0.3,
        min=0.0,
        max=1.0,
        description="Height of the neck pivot, fraction of the image",
        options={"SKIP_SAVE"},
    )

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        path = self.image_path or scene.posetalk.image_path
        strip = None
        if self.strip:
            strip = next((s for s in rig.sound_strips(scene) if s.name == self.strip), None)
            if strip is None:
                self.report({"ERROR"}, f"no sound strip named {self.strip!r} in the scene")
                return {"CANCELLED"}
        else:
            strip = rig.active_sound_strip(scene)
        try:
            obj = rig.create_rig(scene, path, strip, self.name, self.distance, self.pivot_height)
        except rig.RigError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for other in context.view_layer.objects:
            other.select_set(False)
        obj.select_set(True)
        context.view_layer.objects.active = obj
        note = f", speaking {strip.name}" if strip else " (no sound strip yet: link one in the PoseTalk panel)"
        self.report({"INFO"}, f"Created {obj.name}{note}")
        return {"FINISHED"}


# generate_motion -----------------------------------------------------------------------------------------------
class POSETALK_OT_generate_motion(EngineJobOperator, bpy.types.Operator):
    """Generate head motion from the sound strip and the prompt as sparse, editable keys"""

    bl_idname = "posetalk.generate_motion"
    bl_label = "Generate Motion"
    bl_options = {"REGISTER", "UNDO"}
    job_op = "pose"

    prompt: bpy.props.StringProperty(name="Prompt", options={"SKIP_SAVE"})
    seed: bpy.props.IntProperty(name="Seed", min=0, options={"SKIP_SAVE"})
    strength: bpy.props.FloatProperty(name="Strength", default=1.0, min=0.0, max=5.0, options={"SKIP_SAVE"})
    smoothing: bpy.props.FloatProperty(name="Smoothing", default=0.0, min=0.0, max=5.0, options={"SKIP_SAVE"})
    backend: bpy.props.StringProperty(name="Backend", default="auto", options={"SKIP_SAVE"})
    keep_keys: bpy.props.BoolProperty(name="Keep My Keys", default=True, options={"SKIP_SAVE"})
    frame_start: bpy.props.IntProperty(
        name="Start", default=0, description="First frame to regenerate (with End)", options={"SKIP_SAVE"}
    )
    frame_end: bpy.props.IntProperty(
        name="End", default=0, description="Last frame to regenerate; 0: whole strip", options={"SKIP_SAVE"}
    )
    rig: bpy.props.StringProperty(
        name="Rig", description="Talking head object (default: the panel's)", options={"SKIP_SAVE"}
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _poll(cls, context)

    def _range(self, context: bpy.types.Context, first: int, last: int) -> tuple[int, int] | None:
        if self.properties.is_property_set("frame_end") or self.properties.is_property_set("frame_start"):
            a, b = self.frame_start, self.frame_end
            if b <= 0 and a <= 0:
                return None
        elif context.scene.posetalk.use_range:
            a, b = context.scene.posetalk.frame_start, context.scene.posetalk.frame_end
        else:
            return None
        if b < a:
            raise UserError(f"frame range is empty: start {a} > end {b}")
        a, b = max(a, first), min(b, last)
        if b < a:
            raise UserError(f"frame range {a}-{b} lies outside the sound strip (frames {first}-{last})")
        return (a, b) if (a, b) != (first, last) else None

    def build(self, context: bpy.types.Context) -> dict[str, Any]:
        head = _head(context, self.rig)
        t = _timing(context, head)
        n, f0 = t["n_frames"], t["first_frame"]
        fh = head.posetalk.face_height
        keep = _setting(self, context, "keep_keys")
        fcurves = curves.find_fcurves(head)
        has_curves = fcurves is not None and any(curves.find_fcurve(fcurves, p, i) for p, i, _ in curves.POSE_FCURVES)
        span = self._range(context, f0, f0 + n - 1) if has_curves else None
        rows: list[Any] = [None] * n
        if span is not None:  # outside the range the current motion is kept: pin it all
            for i in range(n):
                if not span[0] <= f0 + i <= span[1]:
                    rows[i] = pose_at(fcurves, f0 + i, fh)
        if keep and has_curves:
            for ci, channel in enumerate(curves.POSE_CHANNELS):
                fcs = [curves.find_fcurve(fcurves, p, i) for p, i, c in curves.POSE_FCURVES if c == channel]
                for fc in fcs:
                    for i in curves.pins_of(fc, f0, n):
                        if rows[i] is None:
                            rows[i] = [None] * 6
                        rows[i][ci] = pose_at(fcurves, f0 + i, fh)[ci]
        params: dict[str, Any] = {
            "audio": t["audio"],
            "prompt": _setting(self, context, "prompt"),
            "seed": _setting(self, context, "seed"),
            "fps": t["fps"],
            "audio_offset": t["audio_offset"],
            "audio_duration": t["audio_duration"],
            "strength": _setting(self, context, "strength"),
            "smoothing": _setting(self, context, "smoothing"),
            "backend": _setting(self, context, "backend") or "auto",
        }
        if not str(params["prompt"]).strip():
            raise UserError("the prompt is empty: describe how the head should move")
        if any(r is not None for r in rows):
            params["pins"] = {"format": POSE_FORMAT, "fps": t["fps"], "channels": curves.POSE_CHANNELS, "frames": rows}
        self._state = {"head": head.name, "timing": t, "span": span, "keep": keep, "seed": params["seed"]}
        return params

    def apply(self, context: bpy.types.Context, result: dict[str, Any]) -> None:
        st = self._state
        head = bpy.data.objects.get(st["head"])
        if head is None:
            raise UserError("the talking head was deleted while the engine worked")
        frames = (result.get("pose") or {}).get("frames") or []
        t = st["timing"]
        n = min(len(frames), t["n_frames"])
        if n == 0:
            raise UserError("the engine returned no frames")
        f0 = t["first_frame"]
        a, b = st["span"] or (f0, f0 + n - 1)
        b = min(b, f0 + n - 1)
        fh = head.posetalk.face_height
        if head.rotation_mode != curves.ROTATION_MODE:
            head.rotation_mode = curves.ROTATION_MODE
        fcurves = curves.ensure_fcurves(head)
        counts: dict[str, int] = {}
        max_dev_deg = 0.0
        for path, index, channel in curves.POSE_FCURVES:
            ci = curves.POSE_CHANNELS.index(channel)
            values = [curves.pose_to_channel_value(channel, frames[i][ci], fh) for i in range(a - f0, b - f0 + 1)]
            fc = curves.ensure_fcurve(fcurves, path, index)
            if st["span"] is not None:  # the curve outside the range keeps its exact shape
                curves.freeze_at(fc, a - 1)
                curves.freeze_at(fc, b + 1)
            count, dev = curves.write_sparse(
                fc, a, values, curves.tolerance(channel, fh), keep_keys=st["keep"], clear_all=st["span"] is None
            )
            counts[channel] = count
            if channel in ("pitch", "yaw", "roll"):
                max_dev_deg = max(max_dev_deg, math.degrees(dev))
        seconds = (b - a + 1) / t["fps"]
        kps = sum(counts.values()) / len(counts) / seconds
        head.posetalk.keys_per_second = kps
        head.posetalk.max_deviation = max_dev_deg
        context.scene.posetalk.seed = int(st["seed"])
        self.stats = {"keys_per_second": kps, "max_deviation_deg": max_dev_deg, "frames": b - a + 1}
        self.report(
            {"INFO"},
            f"PoseTalk: {b - a + 1} frames, {kps:.1f} keys/s per channel, max deviation {max_dev_deg:.2f}°"
            f" ({result.get('backend', 'engine')})",
        )


# generate_lipsync ----------------------------------------------------------------------------------------------
class POSETALK_OT_generate_lipsync(EngineJobOperator, bpy.types.Operator):
    """Generate mouth curves (mouth_open, mouth_wide, mouth_round, lips_closed) from the sound strip"""

    bl_idname = "posetalk.generate_lipsync"
    bl_label = "Generate Lip Sync"
    bl_options = {"REGISTER", "UNDO"}
    job_op = "lips"

    strength: bpy.props.FloatProperty(name="Lips Strength", default=1.0, min=0.0, max=2.0, options={"SKIP_SAVE"})
    keep_keys: bpy.props.BoolProperty(name="Keep My Keys", default=True, options={"SKIP_SAVE"})
    rig: bpy.props.StringProperty(name="Rig", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _poll(cls, context)

    def build(self, context: bpy.types.Context) -> dict[str, Any]:
        head = _head(context, self.rig)
        t = _timing(context, head)
        strength = (
            self.strength if self.properties.is_property_set("strength") else context.scene.posetalk.lips_strength
        )
        self._state = {"head": head.name, "timing": t, "keep": _setting(self, context, "keep_keys")}
        return {
            "audio": t["audio"],
            "fps": t["fps"],
            "audio_offset": t["audio_offset"],
            "audio_duration": t["audio_duration"],
            "strength": strength,
        }

    def apply(self, context: bpy.types.Context, result: dict[str, Any]) -> None:
        st = self._state
        head = bpy.data.objects.get(st["head"])
        if head is None:
            raise UserError("the talking head was deleted while the engine worked")
        doc = result.get("lips") or {}
        channels, frames = doc.get("channels") or [], doc.get("frames") or []
        t = st["timing"]
        n = min(len(frames), t["n_frames"])
        if n == 0 or not channels:
            raise UserError("the engine returned no mouth frames")
        fcurves = curves.ensure_fcurves(head)
        total, max_dev = 0, 0.0
        for ci, channel in enumerate(channels):
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", str(channel)):
                continue
            if channel not in head.keys():
                head[channel] = 0.0
                head.id_properties_ui(channel).update(min=0.0, max=1.0, soft_min=0.0, soft_max=1.0, precision=3)
            fc = curves.ensure_fcurve(fcurves, f'["{channel}"]', 0)
            values = [float(frames[i][ci]) for i in range(n)]
            count, dev = curves.write_sparse(
                fc, t["first_frame"], values, curves.MOUTH_TOL, keep_keys=st["keep"], bounds=(0.0, 1.0)
            )
            total += count
            max_dev = max(max_dev, dev)
        kps = total / len(channels) / (n / t["fps"])
        self.stats = {"keys_per_second": kps, "max_deviation": max_dev, "frames": n}
        self.report(
            {"INFO"}, f"PoseTalk lip sync: {n} frames, {kps:.1f} keys/s per channel, max deviation {max_dev:.3f}"
        )


# render_frames -------------------------------------------------------------------------------------------------
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "rig"


def render_strip_name(head: bpy.types.Object) -> str:
    return f"PoseTalk {head.name}"


def find_render_strip(scene: bpy.types.Scene, head: bpy.types.Object) -> Any | None:
    for s in rig.all_strips(scene):
        if s.type == "IMAGE" and s.get("posetalk_rig") == head.name:
            return s
    return None


def _free_channel(scene: bpy.types.Scene, above: int, start: int, end: int, ignore: Any) -> int:
    channel = above + 1
    while channel < 128:
        busy = any(
            s.channel == channel and s != ignore and s.frame_final_start < end and s.frame_final_end > start
            for s in rig.all_strips(scene)
        )
        if not busy:
            return channel
        channel += 1
    raise UserError("no free sequencer channel above the sound strip")


class POSETALK_OT_render_frames(EngineJobOperator, bpy.types.Operator):
    """Render the talking head as Blender evaluates its curves, into an image strip above the sound strip"""

    bl_idname = "posetalk.render_frames"
    bl_label = "Render Frames"
    bl_options = {"REGISTER", "UNDO"}
    job_op = "render"

    size: bpy.props.IntProperty(name="Size", default=512, min=64, max=2048, options={"SKIP_SAVE"})
    blinks: bpy.props.BoolProperty(name="Blinks", default=True, options={"SKIP_SAVE"})
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0, options={"SKIP_SAVE"})
    out: bpy.props.StringProperty(
        name="Output Folder", subtype="DIR_PATH", description="Default: the cache folder", options={"SKIP_SAVE"}
    )
    rig: bpy.props.StringProperty(name="Rig", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _poll(cls, context)

    def build(self, context: bpy.types.Context) -> dict[str, Any]:
        scene = context.scene
        head = _head(context, self.rig)
        t = _timing(context, head)
        image = head.posetalk.image
        if image is None:
            raise UserError(f"{head.name} has no portrait image")
        if image.packed_file is not None:
            raise UserError(f"the portrait {image.name!r} is packed into the .blend: unpack it first")
        image_path = os.path.normpath(bpy.path.abspath(image.filepath, library=image.library))
        if not os.path.isfile(image_path):
            raise UserError(f"the portrait image is missing: {image_path}")
        pose, lips = self.sample(context, head, t)
        if self.out:
            out = os.path.normpath(bpy.path.abspath(self.out))
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = os.path.join(prefs.cache_dir(), "render", f"{_safe(head.name)}-{stamp}")
        try:
            os.makedirs(os.path.dirname(out), exist_ok=True)  # the engine creates the folder itself
        except OSError as exc:
            raise UserError(f"cannot create the output folder {out}: {exc.strerror}") from None
        params: dict[str, Any] = {
            "image": image_path,
            "pose": pose,
            "size": _setting(self, context, "size", "render_size"),
            "out": out,
            "device": prefs.device(),
            "blinks": _setting(self, context, "blinks"),
            "seed": _setting(self, context, "seed"),
            "cache_dir": os.path.join(prefs.cache_dir(), "portraits"),
        }
        if lips is not None:
            params["lips"] = lips
        self._state = {"head": head.name, "timing": t, "scene": scene.name}
        return params

    @staticmethod
    def sample(
        context: bpy.types.Context, head: bpy.types.Object, t: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Step the scene through the strip's frames and read the head's evaluated transforms and mouth values."""
        scene = context.scene
        fh = head.posetalk.face_height
        fcurves = curves.find_fcurves(head)
        mouth = [c for c in curves.MOUTH_CHANNELS if curves.find_fcurve(fcurves, f'["{c}"]') is not None]
        pose_rows, lips_rows = [], []
        saved = scene.frame_current, scene.frame_subframe
        try:
            for i in range(t["n_frames"]):
                scene.frame_set(t["first_frame"] + i)
                rx, ry, rz = head.rotation_euler
                sx, sy, _sz = head.scale
                pose_rows.append(
                    [
                        round(curves.channel_value_to_pose("pitch", rx, fh), 5),
                        round(curves.channel_value_to_pose("yaw", ry, fh), 5),
                        round(curves.channel_value_to_pose("roll", rz, fh), 5),
                        round(head.location.x / fh, 6),
                        round(head.location.y / fh, 6),
                        round(math.sqrt(max(sx * sy, 1e-12)), 6),
                    ]
                )
                if mouth:
                    lips_rows.append([round(min(1.0, max(0.0, float(head.get(c, 0.0)))), 5) for c in mouth])
        finally:
            scene.frame_set(saved[0], subframe=saved[1])
        meta = {"source": "blender", "rig": head.name}
        pose = {
            "format": POSE_FORMAT,
            "fps": t["fps"],
            "channels": curves.POSE_CHANNELS,
            "frames": pose_rows,
            "meta": meta,
        }
        if not mouth:
            return pose, None
        if mouth[0] != "mouth_open":  # the format wants mouth_open first
            mouth.insert(0, "mouth_open")
            lips_rows = [[0.0, *row] for row in lips_rows]
        lips = {"format": LIPS_FORMAT, "fps": t["fps"], "channels": mouth, "frames": lips_rows, "meta": meta}
        return pose, lips

    def apply(self, context: bpy.types.Context, result: dict[str, Any]) -> None:
        st = self._state
        scene = context.scene
        head = bpy.data.objects.get(st["head"])
        if head is None:
            raise UserError("the talking head was deleted while the engine worked")
        folder = result.get("frames_dir") or ""
        pattern = result.get("pattern") or "frame_%05d.png"
        n = int(result.get("n_frames") or 0)
        names = [os.path.basename(pattern % (i + 1)) if "%" in pattern else f"frame_{i + 1:05d}.png" for i in range(n)]
        if n == 0 or not all(os.path.isfile(os.path.join(folder, nm)) for nm in (names[0], names[-1])):
            raise UserError(f"the engine's frames are missing in {folder!r}")
        t = st["timing"]
        scene.sequence_editor_create()
        old = find_render_strip(scene, head)
        start = t["first_frame"]
        channel = _free_channel(scene, t["channel"], start, start + n, old)
        if old is not None:
            channel = min(channel, old.channel) if old.channel > t["channel"] else channel
            rig.strips(scene).remove(old)
        strip = rig.strips(scene).new_image(render_strip_name(head), os.path.join(folder, names[0]), channel, start)
        for nm in names[1:]:
            strip.elements.append(nm)
        strip["posetalk_rig"] = head.name
        if hasattr(strip, "fit_method"):
            strip.fit_method = "FIT"
        head.posetalk.render_strip = strip.name
        self.stats = {"frames": n, "folder": folder, "strip": strip.name, "channel": channel}
        self.report({"INFO"}, f"PoseTalk: rendered {n} frames into strip {strip.name!r} (channel {channel})")


# cancel / stop -------------------------------------------------------------------------------------------------
class POSETALK_OT_cancel(bpy.types.Operator):
    """Cancel the running PoseTalk job (the scene stays as it was)"""

    bl_idname = "posetalk.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not runner.busy():
            cls.poll_message_set("No PoseTalk job is running")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        runner.cancel_job()
        runner.tag_redraw()
        return {"FINISHED"}


class POSETALK_OT_stop_engine(bpy.types.Operator):
    """Stop the PoseTalk engine process and free its memory (it restarts on the next job)"""

    bl_idname = "posetalk.stop_engine"
    bl_label = "Stop Engine"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not runner.engine_running():
            cls.poll_message_set("The engine is not running")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        runner.stop_engine()
        runner.tag_redraw()
        self.report({"INFO"}, "PoseTalk engine stopped")
        return {"FINISHED"}


classes = (
    POSETALK_OT_create_rig,
    POSETALK_OT_generate_motion,
    POSETALK_OT_generate_lipsync,
    POSETALK_OT_render_frames,
    POSETALK_OT_cancel,
    POSETALK_OT_stop_engine,
)
