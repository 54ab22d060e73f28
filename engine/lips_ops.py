"""The ``lips`` op: audio → lips.json (mouth channels and visemes)."""

from __future__ import annotations

from typing import Any

from . import __version__
from .audio import check_fps, load_audio
from .errors import BadInput
from .formats import check_output_path, lips_document, write_json_atomic
from .jobs import Job, register
from .lips import generate_lips
from .motion import shift_in_time
from .params import number


@register("lips")
def lips_op(params: dict[str, Any], job: Job) -> dict[str, Any]:
    """Params: audio, fps, out, audio_offset, audio_duration, strength, time_offset_ms."""
    path = params.get("audio")
    if not path:
        raise BadInput("no audio file given")
    fps = check_fps(params.get("fps", 25.0))
    strength = number(params, "strength", 1.0, 0.0, 3.0)
    time_offset = number(params, "time_offset_ms", 0.0, -2000.0, 2000.0) / 1000.0
    out = check_output_path(params["out"]) if params.get("out") else None
    audio, duration = load_audio(
        str(path), job.sub(0.0, 0.2), params.get("audio_offset") or 0.0, params.get("audio_duration")
    )
    frames, channels, visemes = generate_lips(audio, duration, fps, strength, job.sub(0.2, 0.98))
    if time_offset:
        frames = shift_in_time(frames, fps, time_offset)
        visemes = [
            {
                **v,
                "start": round(max(0.0, v["start"] + time_offset), 3),
                "end": round(max(0.0, v["end"] + time_offset), 3),
            }
            for v in visemes
        ]
        visemes = [v for v in visemes if v["end"] > v["start"]]
    job.check()
    meta = {"engine": __version__, "strength": strength}
    if time_offset:
        meta["time_offset_ms"] = round(time_offset * 1000.0, 3)
    doc = lips_document(frames, channels, fps, visemes, meta)
    if out:
        write_json_atomic(out, doc)
    job.progress(1000, 1000, "done")
    return {"lips": doc, "path": out, "n_frames": len(frames)}
