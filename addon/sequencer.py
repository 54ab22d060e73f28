"""The sequencer side of a talking head: its sound strip and that strip's timing, the files the engine reads,
and the image strip a render goes into.
"""

from __future__ import annotations

import os
from typing import Any

import bpy

from . import compat
from .errors import UserError


def other_sequencer_scene(context: bpy.types.Context) -> bpy.types.Scene | None:
    """The scene the workspace's Sequencer shows when it is not the window's scene (PoseTalk's), else None."""
    seq = compat.sequencer_scene(context)
    return seq if seq is not None and seq != context.scene else None


def sequencer_scene_hint(context: bpy.types.Context) -> str:
    """A note for "no sound strip" messages when the Sequencer shows another scene ('' otherwise)."""
    seq = other_sequencer_scene(context)
    if seq is None:
        return ""
    return (
        f" (the Sequencer shows scene {seq.name!r}; PoseTalk uses the strips of the window's scene "
        f"{context.scene.name!r}: switch the window to {seq.name!r} or add the sound here)"
    )


def sound_strips(scene: bpy.types.Scene) -> list[Any]:
    return [s for s in compat.all_strips(scene) if s.type == "SOUND"]


def active_sound_strip(scene: bpy.types.Scene) -> Any | None:
    """The active strip if it is a sound strip, else the first selected one, else the first one."""
    sed = scene.sequence_editor
    active = getattr(sed, "active_strip", None) if sed else None
    if active is not None and active.type == "SOUND":
        return active
    sounds = sound_strips(scene)
    selected = [s for s in sounds if s.select]
    return (selected or sounds or [None])[0]


def head_strip(scene: bpy.types.Scene, head: bpy.types.Object) -> Any | None:
    """The sound strip ``head`` speaks (None when unlinked, deleted or not a sound strip)."""
    name = head.posetalk.strip
    if not name:
        return None
    strip = next((s for s in compat.all_strips(scene) if s.name == name), None)
    return strip if strip is not None and strip.type == "SOUND" else None


def subtitles(scene: bpy.types.Scene, strip: Any) -> str:
    """The words of the text strips that overlap ``strip`` in time (subtitles), in the order they start."""
    start, end = strip.frame_final_start, strip.frame_final_end
    texts = [
        s
        for s in compat.all_strips(scene)
        if s.type == "TEXT" and s.frame_final_start < end and s.frame_final_end > start
    ]
    texts.sort(key=lambda s: (s.frame_final_start, s.channel))
    return " ".join(" ".join(s.text.split()) for s in texts if s.text.strip())


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base


def external_file(block: bpy.types.ID, what: str, file_what: str) -> str:
    """Absolute path of an image or sound datablock's file, which the engine process reads.

    Raises UserError when the data is packed into the .blend or its file is missing.
    """
    if block.packed_file is not None:
        raise UserError(f"{what} is packed into the .blend: unpack it (File > External Data)")
    path = os.path.normpath(bpy.path.abspath(block.filepath, library=block.library))
    if not os.path.isfile(path):
        raise UserError(f"{file_what} is missing: {path}")
    return path


def strip_timing(scene: bpy.types.Scene, strip: Any) -> dict[str, Any]:
    """Where the strip's visible audio comes from and where it plays.

    Returns audio (absolute path), audio_offset (s into the file: the start trim plus the strip's sound
    offset), audio_duration (s, the visible length), first_frame (the scene frame of pose frame 0),
    n_frames and fps (the scene's fps / fps_base), the strip's channel and name.
    """
    sound = strip.sound
    if sound is None:
        raise UserError(f"sound strip {strip.name!r} has no sound")
    path = external_file(sound, f"the sound of strip {strip.name!r}", f"the sound file of strip {strip.name!r}")
    fps = scene_fps(scene)
    start = int(strip.frame_final_start)
    end = int(strip.frame_final_end)
    if end <= start:
        raise UserError(f"sound strip {strip.name!r} is empty")
    trim = (strip.frame_final_start - strip.frame_start) / fps
    offset = trim + float(getattr(strip, "sound_offset", 0.0) or 0.0)
    return {
        "audio": path,
        "audio_offset": max(0.0, offset),
        "audio_duration": (end - start) / fps,
        "first_frame": start,
        "n_frames": end - start,
        "fps": fps,
        "channel": strip.channel,
        "strip": strip.name,
    }


def head_timing(context: bpy.types.Context, head: bpy.types.Object) -> dict[str, Any]:
    """``strip_timing`` of the head's sound strip; UserError when it has none."""
    strip = head_strip(context.scene, head)
    if strip is None:
        raise UserError(
            f"{head.name} has no sound strip: link one in the PoseTalk panel{sequencer_scene_hint(context)}"
        )
    return strip_timing(context.scene, strip)


# the render's image strip --------------------------------------------------------------------------------------
def render_strip_name(head: bpy.types.Object) -> str:
    return f"PoseTalk {head.name}"


def find_render_strip(scene: bpy.types.Scene, head: bpy.types.Object) -> Any | None:
    for s in compat.all_strips(scene):
        if s.type == "IMAGE" and s.get("posetalk_rig") == head.name:
            return s
    return None


def _free_channel(scene: bpy.types.Scene, above: int, start: int, end: int, ignore: Any) -> int:
    channel = above + 1
    while channel < 128:
        busy = any(
            s.channel == channel and s != ignore and s.frame_final_start < end and s.frame_final_end > start
            for s in compat.all_strips(scene)
        )
        if not busy:
            return channel
        channel += 1
    raise UserError("no free sequencer channel above the sound strip")


def place_render_strip(
    scene: bpy.types.Scene, head: bpy.types.Object, folder: str, names: list[str], above: int, start: int
) -> Any:
    """The image strip of ``head``'s render (frames ``names`` in ``folder``) on the lowest free channel above
    channel ``above`` from frame ``start``, replacing the head's previous render strip (and keeping its channel
    when that is still above)."""
    compat.strips(scene, create=True)
    old = find_render_strip(scene, head)
    channel = _free_channel(scene, above, start, start + len(names), old)
    if old is not None:
        channel = min(channel, old.channel) if old.channel > above else channel
        compat.strips(scene).remove(old)
    first = os.path.join(folder, names[0])
    strip = compat.strips(scene).new_image(render_strip_name(head), first, channel, start, fit_method="FIT")
    for name in names[1:]:
        strip.elements.append(name)
    strip["posetalk_rig"] = head.name
    return strip
