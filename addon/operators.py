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

from . import curves, prefs, render_cache, rig, runner, takes
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
        return (
            f"{head.name} has no sound strip: add one in the Sequencer and link it in the PoseTalk panel"
            + rig.sequencer_scene_hint(context)
        )
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
        raise UserError(
            f"{head.name} has no sound strip: link one in the PoseTalk panel{rig.sequencer_scene_hint(context)}"
        )
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
        if strip is None:
            note += rig.sequencer_scene_hint(context)
        self.report({"INFO"}, f"Created {obj.name}{note}")
        return {"FINISHED"}


# generate_motion -----------------------------------------------------------------------------------------------
class MotionJob(EngineJobOperator):
    """The pose job shared by Generate Motion and New Take (properties, request, writing the keys)."""

    job_op = "pose"

    prompt: bpy.props.StringProperty(name="Prompt", options={"SKIP_SAVE"})
    seed: bpy.props.IntProperty(name="Seed", min=0, options={"SKIP_SAVE"})
    strength: bpy.props.FloatProperty(name="Strength", default=1.0, min=0.0, max=5.0, options={"SKIP_SAVE"})
    smoothing: bpy.props.FloatProperty(name="Smoothing", default=0.0, min=0.0, max=5.0, options={"SKIP_SAVE"})
    strength_rotation: bpy.props.FloatProperty(
        name="Rotation Strength", default=1.0, min=0.0, max=5.0, options={"SKIP_SAVE"}
    )
    strength_translation: bpy.props.FloatProperty(
        name="Translation Strength", default=1.0, min=0.0, max=5.0, options={"SKIP_SAVE"}
    )
    strength_scale: bpy.props.FloatProperty(name="Scale Strength", default=1.0, min=0.0, max=5.0, options={"SKIP_SAVE"})
    time_offset_ms: bpy.props.FloatProperty(
        name="Time Offset (ms)",
        default=0.0,
        min=-2000.0,
        max=2000.0,
        options={"SKIP_SAVE"},
        description="Delay of the motion against the sound (negative: the head leads)",
    )
    backend: bpy.props.StringProperty(name="Backend", default="auto", options={"SKIP_SAVE"})
    guidance: bpy.props.FloatProperty(name="Prompt Weight", default=3.0, min=0.0, max=20.0, options={"SKIP_SAVE"})
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
            "strength_rotation": _setting(self, context, "strength_rotation"),
            "strength_translation": _setting(self, context, "strength_translation"),
            "strength_scale": _setting(self, context, "strength_scale"),
            "time_offset_ms": _setting(self, context, "time_offset_ms"),
            "backend": _setting(self, context, "backend") or "auto",
            "guidance": _setting(self, context, "guidance"),
        }
        if not str(params["prompt"]).strip():
            raise UserError("the prompt is empty: describe how the head should move")
        if any(r is not None for r in rows):
            params["pins"] = {"format": POSE_FORMAT, "fps": t["fps"], "channels": curves.POSE_CHANNELS, "frames": rows}
        self._state = {"head": head.name, "timing": t, "span": span, "keep": keep, "seed": params["seed"]}
        self._state["prompt"] = params["prompt"]
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
        created = takes.current_action(head) is None
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
        action = takes.current_action(head)
        if "posetalk_take" not in action:  # the first generation makes the action a take (an animator's keeps its name)
            number = takes.next_number(head)
            takes.tag(action, head, number, int(st["seed"]), st["prompt"])
            if created:
                action.name = takes.take_name(number, int(st["seed"]), st["prompt"])
        elif st["span"] is None:
            action["posetalk_seed"], action["posetalk_prompt"] = int(st["seed"]), st["prompt"]
        self.stats = {"keys_per_second": kps, "max_deviation_deg": max_dev_deg, "frames": b - a + 1}
        self.report(
            {"INFO"},
            f"PoseTalk: {b - a + 1} frames, {kps:.1f} keys/s per channel, max deviation {max_dev_deg:.2f}°"
            f" ({result.get('backend', 'engine')})",
        )


class POSETALK_OT_generate_motion(MotionJob, bpy.types.Operator):
    """Generate head motion from the sound strip and the prompt as sparse, editable keys (into the current take)"""

    bl_idname = "posetalk.generate_motion"
    bl_label = "Generate Motion"
    bl_options = {"REGISTER", "UNDO"}


class POSETALK_OT_new_take(MotionJob, bpy.types.Operator):
    """Generate a variation (the next unused seed) into a new take: a copy of the current action, so your keys
    stay pins and the previous take stays as it was"""

    bl_idname = "posetalk.new_take"
    bl_label = "New Take"
    bl_options = {"REGISTER", "UNDO"}

    def build(self, context: bpy.types.Context) -> dict[str, Any]:
        params = super().build(context)
        head = bpy.data.objects[self._state["head"]]
        if not self.properties.is_property_set("seed"):
            params["seed"] = takes.next_seed(head, int(context.scene.posetalk.seed))
        self._state["seed"] = params["seed"]
        self._state["span"] = None  # a take is a whole motion; the range only applies to regenerations
        return params

    def apply(self, context: bpy.types.Context, result: dict[str, Any]) -> None:
        st = self._state
        head = bpy.data.objects.get(st["head"])
        if head is None:
            raise UserError("the talking head was deleted while the engine worked")
        number = takes.next_number(head)
        action = takes.duplicate(head, takes.take_name(number, int(st["seed"]), st["prompt"]))
        takes.tag(action, head, number, int(st["seed"]), st["prompt"])
        super().apply(context, result)


class POSETALK_OT_switch_take(bpy.types.Operator):
    """Make another take the talking head's active action (what plays and what renders)"""

    bl_idname = "posetalk.switch_take"
    bl_label = "Switch Take"
    bl_options = {"REGISTER", "UNDO"}
    bl_property = "take"

    # take: an EnumProperty of the rig's takes, set below (its items callback must be a real function, not a
    # string annotation evaluated out of this module)
    action: bpy.props.StringProperty(name="Action", description="Take by action name (scripts)", options={"SKIP_SAVE"})
    rig: bpy.props.StringProperty(name="Rig", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if rig.find_rig(context) is None:
            cls.poll_message_set("No talking head in the scene")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        if runner.busy():
            self.report({"ERROR"}, "A PoseTalk job is running: wait for it")
            return {"CANCELLED"}
        head = rig.find_rig(context, self.rig)
        name = self.action or (self.take if self.properties.is_property_set("take") else "")
        action = bpy.data.actions.get(name) if name else None
        if head is None or action is None or action not in takes.takes_of(head):
            self.report({"ERROR"}, f"no take named {name!r} for this talking head")
            return {"CANCELLED"}
        takes.assign(head, action)
        context.scene.posetalk.seed = int(action.get("posetalk_seed", context.scene.posetalk.seed))
        self.report({"INFO"}, f"PoseTalk: {head.name} now plays {action.name}")
        return {"FINISHED"}


_ITEMS_CACHE: list[tuple[str, str, str]] = []  # Blender needs the strings of dynamic enum items kept alive


def _take_items(_self: Any, context: bpy.types.Context | None) -> list[tuple[str, str, str]]:
    head = rig.find_rig(context) if context is not None else None
    _ITEMS_CACHE[:] = takes.enum_items(head) or [("NONE", "(no takes)", "")]
    return _ITEMS_CACHE


POSETALK_OT_switch_take.__annotations__["take"] = bpy.props.EnumProperty(name="Take", items=_take_items)


class POSETALK_OT_make_editable(bpy.types.Operator):
    """Thin the generated keys further (fewer keys, looser fit); your keys (pins) stay exactly as they are"""

    bl_idname = "posetalk.make_editable"
    bl_label = "Make Editable"
    bl_options = {"REGISTER", "UNDO"}

    tolerance: bpy.props.FloatProperty(
        name="Tolerance (°)",
        description="How far the thinned curve may leave the current one, in degrees (moves and mouth in proportion)",
        default=1.0,
        min=0.05,
        max=10.0,
    )
    rig: bpy.props.StringProperty(name="Rig", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _poll(cls, context, need_strip=False, need_engine=False)

    def execute(self, context: bpy.types.Context) -> set[str]:
        head = rig.find_rig(context, self.rig)
        fcurves = curves.find_fcurves(head) if head is not None else None
        if fcurves is None:
            self.report({"ERROR"}, "no PoseTalk curves to thin: generate motion first")
            return {"CANCELLED"}
        before, after = curves.thin(fcurves, self.tolerance, head.posetalk.face_height)
        self.stats = {"keys_before": before, "keys_after": after}
        self.report({"INFO"}, f"PoseTalk: {before} keys → {after} (tolerance {self.tolerance:.2f}°, pins kept)")
        return {"FINISHED"}


class POSETALK_OT_bake_take(bpy.types.Operator):
    """Bake the current take into one plain action: a copy whose keys are all ordinary keys (pins for later
    regenerations), ready to push down into the NLA"""

    bl_idname = "posetalk.bake_take"
    bl_label = "Bake to One Action"
    bl_options = {"REGISTER", "UNDO"}

    rig: bpy.props.StringProperty(name="Rig", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _poll(cls, context, need_strip=False, need_engine=False)

    def execute(self, context: bpy.types.Context) -> set[str]:
        head = rig.find_rig(context, self.rig)
        old = takes.current_action(head) if head is not None else None
        if old is None or curves.find_fcurves(head) is None:
            self.report({"ERROR"}, "nothing to bake: generate motion first")
            return {"CANCELLED"}
        seed, prompt = int(old.get("posetalk_seed", 0)), str(old.get("posetalk_prompt", old.name))
        number = takes.next_number(head)
        action = takes.duplicate(head, takes.take_name(number, seed, prompt, baked=True))
        takes.tag(action, head, number, seed, prompt)
        action["posetalk_baked"] = True
        count = 0
        for fc in curves.find_fcurves(head):
            for kp in fc.keyframe_points:
                kp.type = "KEYFRAME"
                count += 1
        self.stats = {"action": action.name, "keys": count}
        self.report({"INFO"}, f"PoseTalk: baked {old.name} into {action.name} ({count} keys)")
        return {"FINISHED"}


# generate_lipsync ----------------------------------------------------------------------------------------------
class POSETALK_OT_generate_lipsync(EngineJobOperator, bpy.types.Operator):
    """Generate mouth curves (mouth_open, mouth_wide, mouth_round, lips_closed) from the sound strip"""

    bl_idname = "posetalk.generate_lipsync"
    bl_label = "Generate Lip Sync"
    bl_options = {"REGISTER", "UNDO"}
    job_op = "lips"

    strength: bpy.props.FloatProperty(name="Lips Strength", default=1.0, min=0.0, max=2.0, options={"SKIP_SAVE"})
    time_offset_ms: bpy.props.FloatProperty(
        name="Time Offset (ms)",
        default=0.0,
        min=-2000.0,
        max=2000.0,
        options={"SKIP_SAVE"},
        description="Delay of the mouth against the sound (negative: the mouth leads)",
    )
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
            "time_offset_ms": _setting(self, context, "time_offset_ms", "lips_time_offset_ms"),
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
        try:
            image_path = rig.external_file(image, f"the portrait {image.name!r}", "the portrait image")
        except rig.RigError as exc:
            raise UserError(str(exc)) from None
        pose, lips = self.sample(context, head, t)
        if self.out:
            out = os.path.normpath(bpy.path.abspath(self.out))
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = base = os.path.join(prefs.cache_dir(), "render", f"{_safe(head.name)}-{stamp}")
            k = 2
            while os.path.exists(out):  # two renders within a second get their own folders
                out, k = f"{base}-{k}", k + 1
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
        self._state = {"head": head.name, "timing": t, "scene": scene.name, "cached": not self.out}
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
        pruned = freed = 0
        if st["cached"]:  # the animator's own Output Folder is theirs: never marked, never pruned
            render_cache.mark(folder, head)
            pruned, freed = render_cache.prune(head)
        self.stats = {"frames": n, "folder": folder, "strip": strip.name, "channel": channel, "pruned": pruned}
        msg = f"PoseTalk: rendered {n} frames into strip {strip.name!r} (channel {channel})"
        if pruned:
            msg += f"; deleted {pruned} older render(s) from the cache ({render_cache.human_size(freed)})"
        self.report({"INFO"}, msg)


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
    POSETALK_OT_new_take,
    POSETALK_OT_switch_take,
    POSETALK_OT_make_editable,
    POSETALK_OT_bake_take,
    POSETALK_OT_generate_lipsync,
    POSETALK_OT_render_frames,
    POSETALK_OT_cancel,
    POSETALK_OT_clear_render_cache,
    POSETALK_OT_stop_engine,
)
