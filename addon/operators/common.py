"""What the operators share: why one cannot run now (poll messages) and finding the head (the portrait plane or
a bound character) they work on."""

from __future__ import annotations

from typing import Any

import bpy

from .. import prefs, runner, sequencer, targets
from ..engine_client import check_engine
from ..errors import UserError


def why_not(
    context: bpy.types.Context, need_strip: bool = True, need_engine: bool = True, rig_name: str = "",
    need_plane: bool = False,
) -> str:  # fmt: skip
    """Why an engine operator cannot run now ('' when it can)."""
    if runner.busy():
        return "A PoseTalk job is running: wait for it, or press Esc / Cancel"
    head = targets.find_target(context, rig_name)
    if head is None:
        return "No talking head in the scene: create one first (Create Talking Head, or Bind Character)"
    if need_plane and targets.is_character(head):
        return f"{head.name} is a character: render it with Blender's own render (Render Frames renders portraits)"
    if need_strip and sequencer.head_strip(context.scene, head) is None:
        return (
            f"{head.name} has no sound strip: add one in the Sequencer and link it in the PoseTalk panel"
            + sequencer.sequencer_scene_hint(context)
        )
    if need_engine:
        reason = check_engine(prefs.engine_python(), prefs.engine_root())
        if reason:
            return reason[0].upper() + reason[1:]
    return ""


def poll(cls: type, context: bpy.types.Context, **kw: Any) -> bool:
    """An operator's poll: False, with the reason as the poll message, when it cannot run now."""
    reason = why_not(context, **kw)
    if reason:
        cls.poll_message_set(reason)
    return not reason


def head(context: bpy.types.Context, name: str) -> bpy.types.Object:
    """The talking head (plane or character) named ``name`` (default: the panel's); UserError when there is none."""
    obj = targets.find_target(context, name)
    if obj is None:
        raise UserError(f"no talking head named {name!r}" if name else "no talking head in the scene: create one first")
    return obj


def still_there(context: bpy.types.Context, state: dict[str, Any]) -> bpy.types.Object:
    """The head an engine job was started for (``state["head"]``), when its result arrives; UserError (nothing
    changed) if the head, or the sound strip the job listened to (``state["timing"]["strip"]``), went away."""
    obj = bpy.data.objects.get(state["head"])
    if obj is None or not targets.is_target(obj):
        raise UserError("the talking head was deleted while the engine worked: nothing was changed")
    strip = state["timing"]["strip"]
    if strip and sequencer.head_strip(context.scene, obj) is None:
        raise UserError(f"the sound strip {strip!r} was deleted while the engine worked: nothing was changed")
    return obj


class HeadOption:
    """The ``rig`` option of operators that work on one talking head."""

    rig: bpy.props.StringProperty(
        name="Rig",
        description="Talking head: the portrait plane or a bound character (default: the panel's)",
        options={"SKIP_SAVE"},
    )


class SavedResult:
    """The ``result_path`` option of the engine operators that can land a result the engine wrote earlier."""

    result_path: bpy.props.StringProperty(
        name="Saved Result",
        subtype="FILE_PATH",
        description="Land this file the engine wrote earlier (its pose.json or lips.json) instead of running the "
        "engine",
        options={"SKIP_SAVE", "HIDDEN"},
    )
