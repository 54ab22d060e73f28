"""Generate Lip Sync: the mouth channels as sparse, editable keys on the head (the engine's ``lips`` op)."""

from __future__ import annotations

import re
from typing import Any

import bpy

from .. import curves, keys, sequencer, settings
from ..errors import UserError
from ..runner import EngineJobOperator
from .common import HeadOption, SavedResult, head, poll, still_there


def write_mouth(
    obj: bpy.types.Object,
    doc: dict[str, Any],
    first_frame: int,
    n: int,
    keep: bool,
    part: bool = False,
) -> dict[str, Any]:
    """Write a lips.json document's channels as sparse keys on the head's custom properties from
    ``first_frame``, ``n`` frames: what Generate Lip Sync and Motion from Video do with a mouth
    result. ``part``: the frames are a part of the curve, whose shape outside them is kept. Returns keys
    (written), curves and max_deviation."""
    channels, frames = doc.get("channels") or [], doc.get("frames") or []
    fcurves = curves.ensure_fcurves(obj)
    total, max_dev, written = 0, 0.0, 0
    for ci, channel in enumerate(channels):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", str(channel)):
            continue
        if channel not in obj.keys():
            obj[channel] = 0.0
            obj.id_properties_ui(channel).update(min=0.0, max=1.0, soft_min=0.0, soft_max=1.0, precision=3)
        fc = curves.ensure_fcurve(fcurves, f'["{channel}"]', 0)
        values = [float(frames[i][ci]) for i in range(n)]
        if part:
            keys.freeze_at(fc, first_frame - 1)
            keys.freeze_at(fc, first_frame + n)
        count, dev = keys.write_sparse(
            fc, first_frame, values, curves.MOUTH_TOL, keep_keys=keep, clear_all=not part, bounds=(0.0, 1.0)
        )
        total += count
        written += 1
        max_dev = max(max_dev, dev)
    return {"keys": total, "curves": written, "max_deviation": max_dev}


class POSETALK_OT_generate_lipsync(
    settings.operator_mixin(settings.LipsSettings),
    settings.operator_mixin(settings.DialogueSettings),
    settings.operator_mixin(settings.MotionSettings, only=("keep_keys",)),
    HeadOption,
    SavedResult,
    EngineJobOperator,
    bpy.types.Operator,
):
    """Generate mouth curves (mouth_open, mouth_wide, mouth_round, lips_closed) from the sound strip and, when the
    head has its dialogue, from the words aligned to the sound"""

    bl_idname = "posetalk.generate_lipsync"
    bl_label = "Generate Lip Sync"
    bl_options = {"REGISTER", "UNDO"}
    job_op = "lips"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return poll(cls, context)

    def build(self, context: bpy.types.Context) -> dict[str, Any]:
        obj = head(context, self.rig)
        t = sequencer.head_timing(context, obj)
        self._state = {"head": obj.name, "timing": t, "keep": settings.value(self, context, "keep_keys")}
        params = {
            "audio": t["audio"],
            "fps": t["fps"],
            "audio_offset": t["audio_offset"],
            "audio_duration": t["audio_duration"],
        }
        for name, (op, engine_name) in settings.ENGINE_PARAMS.items():
            if op == "lips":
                params[engine_name] = settings.value(self, context, name)
        for name, (_op, engine_name) in settings.HEAD_ENGINE_PARAMS.items():
            params[engine_name] = settings.value(self, context, name, obj.posetalk)
        if not str(params["text"]).strip():
            params["text"] = None  # no dialogue: the phones are recognized from the sound
        return params

    def apply(self, context: bpy.types.Context, result: dict[str, Any]) -> None:
        st = self._state
        obj = still_there(context, st)
        doc = result.get("lips") or {}
        channels, frames = doc.get("channels") or [], doc.get("frames") or []
        t = st["timing"]
        n = min(len(frames), t["n_frames"])
        if n == 0 or not channels:
            raise UserError("the engine returned no mouth frames")
        mouth = write_mouth(obj, doc, t["first_frame"], n, st["keep"])
        total, max_dev = mouth["keys"], mouth["max_deviation"]
        kps = total / max(1, mouth["curves"]) / (n / t["fps"])
        self.stats = {"keys_per_second": kps, "max_deviation": max_dev, "frames": n, "meta": doc.get("meta", {})}
        message = f"PoseTalk lip sync: {n} frames, {kps:.1f} keys/s per channel, max deviation {max_dev:.3f}"
        if result.get("warning"):
            self.report({"WARNING"}, f"{message}; {result['warning']}")
        else:
            self.report({"INFO"}, message)


classes = (POSETALK_OT_generate_lipsync,)
