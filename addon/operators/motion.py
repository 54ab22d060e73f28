"""Head motion and its takes: Generate Motion, New Take, Switch Take, Make Editable, Bake to One Action.

Generate Motion and New Take are engine jobs (the ``pose`` op): they change the scene only when the engine's
result arrives. Each operator is one undo step.
"""

from __future__ import annotations

import math
from typing import Any

import bpy

from .. import curves, keys, rig, runner, sequencer, settings, takes
from ..errors import UserError
from ..runner import EngineJobOperator
from .common import HeadOption, SavedResult, head, poll, still_there

POSE_FORMAT = "posetalk.pose/1"


def land_pose(op: bpy.types.Operator, context: bpy.types.Context, st: dict[str, Any], result: dict[str, Any]) -> None:
    """Write an engine pose result (``result["pose"]``) into the head's current take as sparse generated keys:
    what every motion operator (Generate Motion, New Take, Motion from Video) does when its job ends.

    ``st``: the job's state: head, timing (first_frame, n_frames, fps), span (frames to rewrite, None: all),
    keep (keep the animator's keys), seed and prompt (the take's record), and optionally channels (the pose
    channels to write; the others' curves are left as they are). Sets ``op.stats`` and reports.
    """
    obj = still_there(context, st)
    frames = (result.get("pose") or {}).get("frames") or []
    t = st["timing"]
    n = min(len(frames), t["n_frames"])
    if n == 0:
        raise UserError("the engine returned no frames")
    f0 = t["first_frame"]
    a, b = st["span"] or (f0, f0 + n - 1)
    b = min(b, f0 + n - 1)
    fh = obj.posetalk.face_height
    if obj.rotation_mode != curves.ROTATION_MODE:
        obj.rotation_mode = curves.ROTATION_MODE
    created = takes.current_action(obj) is None
    fcurves = curves.ensure_fcurves(obj)
    counts: dict[str, int] = {}
    max_dev_deg = 0.0
    only = st.get("channels")
    for path, index, channel in curves.POSE_FCURVES:
        if only is not None and channel not in only:
            continue
        ci = curves.POSE_CHANNELS.index(channel)
        values = [curves.pose_to_channel_value(channel, frames[i][ci], fh) for i in range(a - f0, b - f0 + 1)]
        fc = curves.ensure_fcurve(fcurves, path, index)
        if st["span"] is not None:  # the curve outside the range keeps its exact shape
            keys.freeze_at(fc, a - 1)
            keys.freeze_at(fc, b + 1)
        count, dev = keys.write_sparse(
            fc, a, values, curves.tolerance(channel, fh), keep_keys=st["keep"], clear_all=st["span"] is None
        )
        counts[channel] = count
        if channel in ("pitch", "yaw", "roll"):
            max_dev_deg = max(max_dev_deg, math.degrees(dev))
    seconds = (b - a + 1) / t["fps"]
    kps = sum(counts.values()) / max(1, len(counts)) / seconds
    obj.posetalk.keys_per_second = kps
    obj.posetalk.max_deviation = max_dev_deg
    context.scene.posetalk.seed = int(st["seed"])
    action = takes.current_action(obj)
    if "posetalk_take" not in action:  # the first generation makes the action a take (an animator's keeps its name)
        number = takes.next_number(obj)
        takes.tag(action, obj, number, int(st["seed"]), st["prompt"])
        if created:
            action.name = takes.take_name(number, int(st["seed"]), st["prompt"])
    elif st["span"] is None:
        action["posetalk_seed"], action["posetalk_prompt"] = int(st["seed"]), st["prompt"]
    op.stats = {"keys_per_second": kps, "max_deviation_deg": max_dev_deg, "frames": b - a + 1}
    op.report(
        {"INFO"},
        f"PoseTalk: {b - a + 1} frames, {kps:.1f} keys/s per channel, max deviation {max_dev_deg:.2f}°"
        f" ({result.get('backend', 'engine')})",
    )


class MotionJob(settings.operator_mixin(settings.MotionSettings), HeadOption, SavedResult, EngineJobOperator):
    """The pose job shared by Generate Motion and New Take (properties, request, writing the keys)."""

    job_op = "pose"

    frame_start: bpy.props.IntProperty(
        name="Start", default=0, description="First frame to regenerate (with End)", options={"SKIP_SAVE"}
    )
    frame_end: bpy.props.IntProperty(
        name="End", default=0, description="Last frame to regenerate; 0: whole strip", options={"SKIP_SAVE"}
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return poll(cls, context)

    def _range(self, context: bpy.types.Context, first: int, last: int) -> tuple[int, int] | None:
        """The frames to regenerate (None: all): the operator's Start/End, else the panel's Frame Range."""
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
        obj = head(context, self.rig)
        t = sequencer.head_timing(context, obj)
        n, f0 = t["n_frames"], t["first_frame"]
        fh = obj.posetalk.face_height
        keep = settings.value(self, context, "keep_keys")
        fcurves = curves.find_fcurves(obj)
        has_curves = fcurves is not None and any(curves.find_fcurve(fcurves, p, i) for p, i, _ in curves.POSE_FCURVES)
        span = self._range(context, f0, f0 + n - 1) if has_curves else None
        rows: list[Any] = [None] * n
        if span is not None:  # outside the range the current motion is kept: pin it all
            for i in range(n):
                if not span[0] <= f0 + i <= span[1]:
                    rows[i] = curves.pose_at(fcurves, f0 + i, fh)
        if keep and has_curves:
            for ci, channel in enumerate(curves.POSE_CHANNELS):
                fcs = [curves.find_fcurve(fcurves, p, i) for p, i, c in curves.POSE_FCURVES if c == channel]
                for fc in fcs:
                    for i in keys.pins_of(fc, f0, n):
                        if rows[i] is None:
                            rows[i] = [None] * 6
                        rows[i][ci] = curves.pose_at(fcurves, f0 + i, fh)[ci]
        params: dict[str, Any] = {
            "audio": t["audio"],
            "fps": t["fps"],
            "audio_offset": t["audio_offset"],
            "audio_duration": t["audio_duration"],
        }
        for name in settings.ENGINE_PARAMS:
            op, engine_name = settings.ENGINE_PARAMS[name]
            if op == "pose":
                params[engine_name] = settings.value(self, context, name)
        if not str(params["prompt"]).strip():
            raise UserError("the prompt is empty: describe how the head should move")
        if any(r is not None for r in rows):
            params["pins"] = {"format": POSE_FORMAT, "fps": t["fps"], "channels": curves.POSE_CHANNELS, "frames": rows}
        self._state = {"head": obj.name, "timing": t, "span": span, "keep": keep, "seed": params["seed"]}
        self._state["prompt"] = params["prompt"]
        return params

    def apply(self, context: bpy.types.Context, result: dict[str, Any]) -> None:
        land_pose(self, context, self._state, result)


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
        obj = bpy.data.objects[self._state["head"]]
        if not self.properties.is_property_set("seed"):
            params["seed"] = takes.next_seed(obj, int(context.scene.posetalk.seed))
        self._state["seed"] = params["seed"]
        self._state["span"] = None  # a take is a whole motion; the range only applies to regenerations
        return params

    def apply(self, context: bpy.types.Context, result: dict[str, Any]) -> None:
        st = self._state
        obj = still_there(context, st)
        number = takes.next_number(obj)
        action = takes.duplicate(obj, takes.take_name(number, int(st["seed"]), st["prompt"]))
        takes.tag(action, obj, number, int(st["seed"]), st["prompt"])
        super().apply(context, result)


class POSETALK_OT_switch_take(HeadOption, bpy.types.Operator):
    """Make another take the talking head's active action (what plays and what renders)"""

    bl_idname = "posetalk.switch_take"
    bl_label = "Switch Take"
    bl_options = {"REGISTER", "UNDO"}
    bl_property = "take"

    # take: an EnumProperty of the rig's takes, set below (its items callback must be a real function, not a
    # string annotation evaluated out of this module)
    action: bpy.props.StringProperty(name="Action", description="Take by action name (scripts)", options={"SKIP_SAVE"})

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
        obj = rig.find_rig(context, self.rig)
        name = self.action or (self.take if self.properties.is_property_set("take") else "")
        action = bpy.data.actions.get(name) if name else None
        if obj is None or action is None or action not in takes.takes_of(obj):
            self.report({"ERROR"}, f"no take named {name!r} for this talking head")
            return {"CANCELLED"}
        takes.assign(obj, action)
        context.scene.posetalk.seed = int(action.get("posetalk_seed", context.scene.posetalk.seed))
        self.report({"INFO"}, f"PoseTalk: {obj.name} now plays {action.name}")
        return {"FINISHED"}


_ITEMS_CACHE: list[tuple[str, str, str]] = []  # Blender needs the strings of dynamic enum items kept alive


def _take_items(_self: Any, context: bpy.types.Context | None) -> list[tuple[str, str, str]]:
    obj = rig.find_rig(context) if context is not None else None
    _ITEMS_CACHE[:] = takes.enum_items(obj) or [("NONE", "(no takes)", "")]
    return _ITEMS_CACHE


POSETALK_OT_switch_take.__annotations__["take"] = bpy.props.EnumProperty(name="Take", items=_take_items)


class POSETALK_OT_make_editable(HeadOption, bpy.types.Operator):
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

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return poll(cls, context, need_strip=False, need_engine=False)

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = rig.find_rig(context, self.rig)
        fcurves = curves.find_fcurves(obj) if obj is not None else None
        if fcurves is None:
            self.report({"ERROR"}, "no PoseTalk curves to thin: generate motion first")
            return {"CANCELLED"}
        before, after = keys.thin(fcurves, self.tolerance, obj.posetalk.face_height)
        self.stats = {"keys_before": before, "keys_after": after}
        self.report({"INFO"}, f"PoseTalk: {before} keys → {after} (tolerance {self.tolerance:.2f}°, pins kept)")
        return {"FINISHED"}


class POSETALK_OT_bake_take(HeadOption, bpy.types.Operator):
    """Bake the current take into one plain action: a copy whose keys are all ordinary keys (pins for later
    regenerations), ready to push down into the NLA"""

    bl_idname = "posetalk.bake_take"
    bl_label = "Bake to One Action"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return poll(cls, context, need_strip=False, need_engine=False)

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = rig.find_rig(context, self.rig)
        old = takes.current_action(obj) if obj is not None else None
        if old is None or curves.find_fcurves(obj) is None:
            self.report({"ERROR"}, "nothing to bake: generate motion first")
            return {"CANCELLED"}
        seed, prompt = int(old.get("posetalk_seed", 0)), str(old.get("posetalk_prompt", old.name))
        number = takes.next_number(obj)
        action = takes.duplicate(obj, takes.take_name(number, seed, prompt, baked=True))
        takes.tag(action, obj, number, seed, prompt)
        action["posetalk_baked"] = True
        count = 0
        for fc in curves.find_fcurves(obj):
            for kp in fc.keyframe_points:
                kp.type = "KEYFRAME"
                count += 1
        self.stats = {"action": action.name, "keys": count}
        self.report({"INFO"}, f"PoseTalk: baked {old.name} into {action.name} ({count} keys)")
        return {"FINISHED"}


classes = (
    POSETALK_OT_generate_motion,
    POSETALK_OT_new_take,
    POSETALK_OT_switch_take,
    POSETALK_OT_make_editable,
    POSETALK_OT_bake_take,
)
