"""The ``capture`` op: a video of a face → pose.json (head motion) and lips.json (mouth channels and blinks)."""

from __future__ import annotations

import os
from typing import Any

from . import __version__
from .capture import channels, portrait_landmarks, track_video
from .errors import BadInput
from .expression import CHANNELS as LIPS_CHANNELS
from .formats import check_output_path, lips_document, pose_document, write_json_atomic
from .jobs import Job
from .motion import shape_motion
from .params import check
from .render.landmarks import face_geometry
from .video import probe


def _flag(name: str, flags: dict[str, str] | None) -> str:
    """How the user spells parameter ``name`` (a CLI flag by default; another op passes its own names)."""
    return (flags or {}).get(name, "--" + name.replace("_", "-"))


def capture_op(params: dict[str, Any], job: Job, flags: dict[str, str] | None = None) -> dict[str, Any]:
    """Params: engine.params.OPS["capture"]. Returns the pose and lips documents (and their paths when written).

    ``flags`` renames parameters in messages (``animate`` calls this with its ``--pose-video-*`` names).
    """
    p = check("capture", params)
    if p["reference_frame"] is not None and p["image"]:
        raise BadInput(f"give {_flag('reference_frame', flags)} or {_flag('image', flags)}, not both")
    out = check_output_path(p["out"]) if p["out"] else None
    lips_out = check_output_path(p["lips_out"]) if p["lips_out"] else None
    if out and out == lips_out:
        raise BadInput(f"the pose and the lips would be written to the same file: {out}")
    image = None
    if p["image"]:
        image = os.path.abspath(os.fspath(p["image"]))
        if not os.path.isfile(image):
            raise BadInput(f"image file not found: {image}")
    info = probe(p["video"])
    start, duration = p["start"], p["duration"]
    if info.duration is not None and start >= info.duration:
        raise BadInput(
            f"{_flag('start', flags)} {start:g} s is past the end of {info.name} (it is {info.duration:.2f} s long)"
        )
    fps = p["fps"] or info.fps
    expected = info.frame_count(fps, start, duration)
    ref_frame = p["reference_frame"]
    if ref_frame is not None and expected is not None and ref_frame > expected:
        raise BadInput(
            f"{_flag('reference_frame', flags)} {ref_frame} is past the end: the video has {expected} frames"
        )
    portrait = None
    if image:
        job.progress(0, 1, "finding the face in the portrait")
        portrait = portrait_landmarks(image)
    job.progress(0, 1, f"decoding {info.name}")
    track = track_video(
        info, fps, start, duration, p["face"], keep=() if ref_frame is None else (ref_frame,),
        progress=job.progress, should_stop=lambda: job.cancelled, face_flag=_flag("face", flags),
    )  # fmt: skip
    if image:  # measured again with its face as tall as the video's reference face
        reference = track.landmarks_at(track.anchor if ref_frame is None else ref_frame)
        portrait = portrait_landmarks(image, face_geometry(reference).height)
    result = channels(track, ref_frame, portrait)
    pose = shape_motion(result.pose, fps, p["strength"], p["smoothing"])
    job.check()
    meta: dict[str, Any] = {
        "source": "video",
        "video": info.name,
        "start": start,
        "face": p["face"] or 0,
        "faces": track.faces,
        "face_found": round(float(track.found.mean()), 4),
        "gaps": result.gaps,
        **result.reference,
        "engine": __version__,
    }
    if duration is not None:
        meta["duration"] = duration
    if p["strength"] != 1.0 or p["smoothing"]:
        meta.update(strength=p["strength"], smoothing=p["smoothing"])
    pose_doc = pose_document(pose, fps, meta)
    lips_doc = lips_document(result.lips, list(LIPS_CHANNELS), fps, meta=dict(meta))
    if lips_out:
        write_json_atomic(lips_out, lips_doc)
    if out:
        try:
            write_json_atomic(out, pose_doc)
        except BaseException:
            if lips_out and os.path.exists(lips_out):
                os.unlink(lips_out)
            raise
    job.progress(track.n, track.n, "done")
    return {
        "pose": pose_doc,
        "lips": lips_doc,
        "path": out,
        "lips_path": lips_out,
        "n_frames": track.n,
        "fps": fps,
        "gaps": result.gaps,
        "face_found": meta["face_found"],
        "seconds": {k: round(v, 3) for k, v in track.seconds.items()},
    }
