"""Motion from Video (PC-AVS's pose from another video): a face's head motion, and if wanted its mouth and
blinks, captured by the engine (the ``capture`` op) into the head's take as sparse generated keys, landed by the
same functions as Generate Motion (``land_pose``) and Generate Lip Sync (``targets.write_mouth``), so on the
portrait plane or a bound character alike (pins kept, frame range, takes, one undo step).

The video is a movie strip in the sequencer (each scene frame gets the movie frame the strip shows there: its
start and trims place the keys) or a file (keys from the start of the head's sound strip for its length, else
from the scene's start for the whole video).
"""

from __future__ import annotations

import os
from typing import Any

import bpy

from .. import compat, curves, sequencer, settings, takes, targets
from ..errors import UserError
from ..runner import EngineJobOperator
from .common import HeadOption, head, why_not
from .motion import land_pose

POSE_GROUPS = {"ROTATION": ("pitch", "yaw", "roll"), "LOCATION": ("x", "y"), "SCALE": ("scale",)}
MOUTH_GROUPS = {"MOUTH": tuple(curves.MOUTH_CHANNELS), "BLINK": (curves.BLINK_CHANNEL,)}


def movie_strips(scene: bpy.types.Scene) -> list[Any]:
    return [s for s in compat.all_strips(scene) if s.type == "MOVIE"]


def movie_timing(scene: bpy.types.Scene, strip: Any) -> dict[str, Any]:
    """What part of a movie strip's file plays where: first_frame, n_frames (the visible frames), the capture's
    fps (the movie's own: Blender shows one movie frame per scene frame), start and duration in the file (s)."""
    path = os.path.normpath(bpy.path.abspath(strip.filepath))
    if not os.path.isfile(path):
        raise UserError(f"the video file of strip {strip.name!r} is missing: {path}")
    start, end = int(strip.frame_final_start), int(strip.frame_final_end)
    if end <= start:
        raise UserError(f"movie strip {strip.name!r} is empty")
    movie_fps = float(strip.fps) if getattr(strip, "fps", 0.0) else sequencer.scene_fps(scene)
    skipped = strip.frame_final_start - strip.frame_start + getattr(strip, "animation_offset_start", 0)
    return {
        "video": path,
        "fps": movie_fps,
        "start": max(0.0, skipped / movie_fps),
        "duration": (end - start) / movie_fps,
        "first_frame": start,
        "n_frames": end - start,
        "strip": "",  # still_there checks the head's sound strip; the movie strip is checked by apply
        "movie_strip": strip.name,
    }


def file_timing(context: bpy.types.Context, obj: bpy.types.Object, path: str) -> dict[str, Any]:
    """A video file's timing: from the head's sound strip (its start, its length) when it has one, else from the
    scene's start frame for the whole video; frames at the scene's rate."""
    path = os.path.normpath(bpy.path.abspath(path))
    if not os.path.isfile(path):
        raise UserError(f"video file not found: {path}")
    fps = sequencer.scene_fps(context.scene)
    timing: dict[str, Any] = {"video": path, "fps": fps, "start": 0.0, "strip": "", "movie_strip": ""}
    sound = sequencer.head_strip(context.scene, obj)
    if sound is not None:
        first, end = int(sound.frame_final_start), int(sound.frame_final_end)
        return {**timing, "first_frame": first, "n_frames": end - first, "duration": (end - first) / fps}
    return {**timing, "first_frame": int(context.scene.frame_start), "n_frames": None, "duration": None}


class POSETALK_OT_motion_from_video(
    settings.operator_mixin(settings.VideoSettings),
    settings.operator_mixin(settings.MotionSettings, only=("strength", "smoothing", "keep_keys")),
    HeadOption,
    EngineJobOperator,
    bpy.types.Operator,
):
    """Capture a face's head motion (and, if chosen, its mouth and blinks) from a movie strip or a video file into
    the talking head's take as sparse, editable keys"""

    bl_idname = "posetalk.motion_from_video"
    bl_label = "Motion from Video"
    bl_options = {"REGISTER", "UNDO"}
    job_op = "capture"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        reason = why_not(context, need_strip=False)
        if reason:
            cls.poll_message_set(reason)
        return not reason

    def job_label(self) -> str:
        return "Capturing motion from video"

    def _timing(self, context: bpy.types.Context, obj: bpy.types.Object) -> dict[str, Any]:
        strip_name = settings.value(self, context, "video_strip")
        path = settings.value(self, context, "video_path")
        if self.properties.is_property_set("video_path") and not self.properties.is_property_set("strip"):
            strip_name = ""  # a script that names a file means that file
        if strip_name:
            strip = next((s for s in compat.all_strips(context.scene) if s.name == strip_name), None)
            if strip is None:
                raise UserError(f"no strip named {strip_name!r} in the sequencer")
            if strip.type != "MOVIE":
                raise UserError(f"strip {strip_name!r} is not a movie strip (it is {strip.type.lower()})")
            return movie_timing(context.scene, strip)
        if path:
            return file_timing(context, obj, path)
        raise UserError("no video: pick a movie strip or a video file")

    def build(self, context: bpy.types.Context) -> dict[str, Any]:
        obj = head(context, self.rig)
        chosen = set(settings.value(self, context, "video_channels"))
        if not chosen:
            raise UserError("no channels chosen: pick what the video drives (rotation, location, scale, mouth, blink)")
        t = self._timing(context, obj)
        span = None
        if context.scene.posetalk.use_range and t["n_frames"] is not None:
            a, b = context.scene.posetalk.frame_start, context.scene.posetalk.frame_end
            first, last = t["first_frame"], t["first_frame"] + t["n_frames"] - 1
            if b < a:
                raise UserError(f"frame range is empty: start {a} > end {b}")
            a, b = max(a, first), min(b, last)
            if b < a:
                raise UserError(f"frame range {a}-{b} lies outside the video (frames {first}-{last})")
            span = (a, b) if (a, b) != (first, last) else None
        pose_channels = [c for group in sorted(chosen & set(POSE_GROUPS)) for c in POSE_GROUPS[group]]
        mouth_channels = [c for group in sorted(chosen & set(MOUTH_GROUPS)) for c in MOUTH_GROUPS[group]]
        name = os.path.basename(t["video"])
        self._state = {
            "head": obj.name,
            "timing": t,
            "span": span,
            "keep": settings.value(self, context, "keep_keys"),
            "seed": int(context.scene.posetalk.seed),
            "prompt": f"video {name}",
            "channels": set(pose_channels),
            "mouth": set(mouth_channels),
        }
        params: dict[str, Any] = {
            "video": t["video"],
            "fps": t["fps"],
            "start": t["start"],
            "strength": settings.value(self, context, "strength"),
            "smoothing": settings.value(self, context, "smoothing"),
        }
        if t["duration"] is not None:
            params["duration"] = t["duration"]
        return params

    def apply(self, context: bpy.types.Context, result: dict[str, Any]) -> None:
        st = self._state
        t = st["timing"]
        movie = t.get("movie_strip")
        if movie and not any(s.name == movie for s in compat.all_strips(context.scene)):
            raise UserError(f"the movie strip {movie!r} was deleted while the engine worked: nothing was changed")
        frames = (result.get("pose") or {}).get("frames") or []
        if not frames:
            raise UserError("the engine returned no frames")
        if t["n_frames"] is None:  # a whole file: as long as the video
            t = st["timing"] = {**t, "n_frames": len(frames)}
        obj = bpy.data.objects.get(st["head"])
        if obj is None or not targets.is_target(obj):
            raise UserError("the talking head was deleted while the engine worked: nothing was changed")
        if settings.value(self, context, "video_new_take"):
            number = takes.next_number(obj)
            action = takes.duplicate(obj, takes.take_name(number, st["seed"], st["prompt"]))
            takes.tag(action, obj, number, st["seed"], st["prompt"])
        stats: dict[str, Any] = {"frames": min(len(frames), t["n_frames"]), "meta": result["pose"].get("meta", {})}
        if st["channels"]:
            land_pose(self, context, st, result)
            stats.update(self.stats)
        if st["mouth"]:
            n, f0 = min(len(frames), t["n_frames"]), t["first_frame"]
            a, b = st["span"] or (f0, f0 + n - 1)
            doc = result.get("lips") or {}
            names = doc.get("channels") or []
            cols = [j for j, c in enumerate(names) if c in st["mouth"]]  # only the chosen channels
            rows = [[row[j] for j in cols] for row in (doc.get("frames") or [])[a - f0 : b - f0 + 1]]
            doc = {**doc, "channels": [names[j] for j in cols], "frames": rows}
            mouth = targets.write_mouth(obj, doc, a, len(rows), st["keep"], part=st["span"] is not None)
            stats["mouth_keys"] = mouth["keys"]
        self.stats = stats
        gaps = stats["meta"].get("gaps") or []
        if gaps:
            held = ", ".join(f"{g['start']:.2f}-{g['end']:.2f} s" for g in gaps[:3]) + (" ..." if len(gaps) > 3 else "")
            self.report({"WARNING"}, f"PoseTalk: the face was lost in the video at {held}: the motion is held there")
        elif not st["channels"]:
            self.report({"INFO"}, f"PoseTalk: mouth captured from {stats['frames']} frames of the video")


classes = (POSETALK_OT_motion_from_video,)
