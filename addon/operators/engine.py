"""The engine process from the UI: Cancel the running job, Stop Engine (frees its memory)."""

from __future__ import annotations

import bpy

from .. import runner


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


classes = (POSETALK_OT_cancel, POSETALK_OT_stop_engine)
