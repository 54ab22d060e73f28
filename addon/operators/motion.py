"""Head motion: Generate Motion and New Take, on the portrait plane or a bound character (``targets.Head``).

Both are engine jobs (the ``pose`` op): they change the scene only when the engine's result arrives. Each is
one undo step. Switching, thinning and baking takes: ``operators.takes``.
"""

from __future__ import annotations

from typing import Any

import bpy

from .. import curves, keys, sequencer, settings, takes, targets
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
    target = targets.Head(obj)
    channels = target.channels()
    created = target.find_fcurves() is None
    fcurves = target.ensure_fcurves(f"PoseTalk {obj.name}")
    dense = target.dense(frames[a - f0 : b - f0 + 1])
    counts: list[int] = []
    part_dev: dict[str, float] = {}  # a neck's and a head's deviations add up in the head
    only = st.get("channels")
    chosen = None if only is None else {curves.POSE_CHANNELS.index(c) for c in only}
    for channel, values in zip(channels, dense):
        if chosen is not None and not set(channel.pins) <= chosen:
            continue  # a curve of pose channels the caller left out keeps its keys
        fc = fcurves.find(channel.data_path, index=channel.index)
        fc = fc if fc is not None else fcurves.new(channel.data_path, index=channel.index)
        if st["span"] is not None:  # the curve outside the range keeps its exact shape
            keys.freeze_at(fc, a - 1)
            keys.freeze_at(fc, b + 1)
        count, dev = keys.write_sparse(fc, a, values, channel.tol, keep_keys=st["keep"], clear_all=st["span"] is None)
        counts.append(count)
        if channel.degrees:
            part = channel.data_path.rpartition(".")[0]
            part_dev[part] = max(part_dev.get(part, 0.0), dev * channel.degrees)
    max_dev_deg = sum(part_dev.values())
    seconds = (b - a + 1) / t["fps"]
    kps = sum(counts) / max(1, len(counts)) / seconds
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
        f"PoseTalk: {b - a + 1} frames, {kps:.1f} keys/s per curve, max deviation {max_dev_deg:.2f}°"
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
        target = targets.Head(obj)
        channels = target.channels()  # a broken binding (a bone gone, an unusable rotation mode) stops here
        t = sequencer.head_timing(context, obj)
        n, f0 = t["n_frames"], t["first_frame"]
        keep = settings.value(self, context, "keep_keys")
        fcurves = target.find_fcurves()
        has_curves = fcurves is not None and any(fcurves.find(c.data_path, index=c.index) for c in channels)
        span = self._range(context, f0, f0 + n - 1) if has_curves else None
        rows: list[Any] = [None] * n
        if span is not None:  # outside the range the current motion is kept: pin it all
            for i in range(n):
                if not span[0] <= f0 + i <= span[1]:
                    rows[i] = target.pose_at(fcurves, f0 + i)
        if keep and has_curves:
            for channel in channels:
                for i in keys.pins_of(fcurves.find(channel.data_path, index=channel.index), f0, n):
                    pose = target.pose_at(fcurves, f0 + i)
                    if rows[i] is None:
                        rows[i] = [None] * len(curves.POSE_CHANNELS)
                    for c in channel.pins:
                        rows[i][c] = pose[c]
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


classes = (POSETALK_OT_generate_motion, POSETALK_OT_new_take)
