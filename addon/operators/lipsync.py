"""Generate Lip Sync: the mouth as sparse, editable keys (the engine's ``lips`` op): the portrait plane's mouth
channels, or a bound character's shape keys, drawings or actions (``targets.write_mouth``)."""

from __future__ import annotations

from typing import Any

import bpy

from .. import sequencer, settings, targets
from ..errors import UserError
from ..runner import EngineJobOperator
from .common import HeadOption, SavedResult, head, poll, still_there


class POSETALK_OT_generate_lipsync(
    settings.operator_mixin(settings.LipsSettings),
    settings.operator_mixin(settings.DialogueSettings),
    settings.operator_mixin(settings.MotionSettings, only=("keep_keys",)),
    HeadOption,
    SavedResult,
    EngineJobOperator,
    bpy.types.Operator,
):
    """Generate the mouth from the sound strip (and, when the head has its dialogue, from the words aligned to the
    sound): the plane's mouth curves (mouth_open, mouth_wide, mouth_round, lips_closed), or a character's shape
    keys, drawn mouths or mouth actions"""

    bl_idname = "posetalk.generate_lipsync"
    bl_label = "Generate Lip Sync"
    bl_options = {"REGISTER", "UNDO"}
    job_op = "lips"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return poll(cls, context)

    def build(self, context: bpy.types.Context) -> dict[str, Any]:
        obj = head(context, self.rig)
        extra = targets.mouth_params(obj)  # a character's mouth that cannot be driven stops here
        t = sequencer.head_timing(context, obj)
        self._state = {"head": obj.name, "timing": t, "keep": settings.value(self, context, "keep_keys")}
        params = {
            "audio": t["audio"],
            "fps": t["fps"],
            "audio_offset": t["audio_offset"],
            "audio_duration": t["audio_duration"],
            **extra,
        }
        if extra.get("blinks"):
            params["seed"] = int(context.scene.posetalk.seed)
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
        stats = targets.write_mouth(obj, doc, t["first_frame"], n, st["keep"])
        seconds = n / t["fps"]
        kps = stats["keys"] / max(1, stats["curves"]) / seconds
        self.stats = {"keys_per_second": kps, "max_deviation": stats.get("max_deviation", 0.0), "frames": n, **stats}
        self.stats["meta"] = doc.get("meta", {})
        if "changes" in stats:
            message = f"{n} frames, {stats['changes']} mouth changes ({stats['changes'] / seconds:.1f}/s)"
        else:
            message = f"{n} frames, {kps:.1f} keys/s per channel, max deviation {stats['max_deviation']:.3f}"
        message = f"PoseTalk lip sync: {message}"
        if result.get("warning"):
            self.report({"WARNING"}, f"{message}; {result['warning']}")
        else:
            self.report({"INFO"}, message)


classes = (POSETALK_OT_generate_lipsync,)
