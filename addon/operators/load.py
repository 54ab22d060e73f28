"""Load Motion Files: a head motion (pose.json) and mouth curves (lips.json) the engine wrote earlier, landed on a
talking head by Generate Motion and Generate Lip Sync themselves (their saved-result option), so the keys are
the same generated, editable keys in a take as if the engine had just made them."""

from __future__ import annotations

import json

import bpy

from ..errors import UserError
from .common import HeadOption, head, poll


def _pose_meta(path: str) -> dict:
    """The pose.json's meta (its prompt and seed name the take); {} when unreadable (the landing says why)."""
    try:
        with open(path, encoding="utf-8") as fh:
            meta = json.load(fh).get("meta")
    except (OSError, ValueError, AttributeError, UnicodeDecodeError):
        return {}
    return meta if isinstance(meta, dict) else {}


class POSETALK_OT_load_motion(HeadOption, bpy.types.Operator):
    """Load a head motion (pose.json) and mouth curves (lips.json) that the engine wrote earlier (animate
    --pose-out/--lips-out, a studio batch) as the talking head's generated, editable keys"""

    bl_idname = "posetalk.load_motion"
    bl_label = "Load Motion Files"
    bl_options = {"REGISTER", "UNDO"}

    pose_path: bpy.props.StringProperty(
        name="Pose", subtype="FILE_PATH", description="pose.json", options={"SKIP_SAVE"}
    )
    lips_path: bpy.props.StringProperty(
        name="Lips", subtype="FILE_PATH", description="lips.json", options={"SKIP_SAVE"}
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return poll(cls, context)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        """From the panel: a dialog with a file field for each document."""
        return context.window_manager.invoke_props_dialog(self, width=420)

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            if not self.pose_path and not self.lips_path:
                raise UserError("give a pose.json, a lips.json or both")
            name = head(context, self.rig).name
            if self.pose_path:
                meta = _pose_meta(bpy.path.abspath(self.pose_path))
                options = {k: meta[k] for k in ("prompt", "seed") if isinstance(meta.get(k), (str, int))}
                bpy.ops.posetalk.generate_motion(rig=name, result_path=self.pose_path, **options)
            if self.lips_path:
                bpy.ops.posetalk.generate_lipsync(rig=name, result_path=self.lips_path)
        except UserError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except RuntimeError as exc:  # the landing operator's own error report
            self.report({"ERROR"}, str(exc).removeprefix("Error: ").strip())
            return {"CANCELLED"}
        self.report({"INFO"}, f"PoseTalk: loaded {' and '.join(p for p in (self.pose_path, self.lips_path) if p)}")
        return {"FINISHED"}


classes = (POSETALK_OT_load_motion,)
