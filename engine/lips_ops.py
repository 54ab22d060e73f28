"""The ``lips`` op: audio → lips.json (mouth channels, visemes and per-frame viseme weights; blinks on request)."""

from __future__ import annotations

from typing import Any

from . import __version__
from .audio import load_audio
from .formats import check_output_path, lips_document, write_json_atomic
from .jobs import Job
from .lips import generate_lips
from .motion import shift_in_time
from .params import check
from .viseme_weights import viseme_weights, with_blinks


def lips_op(params: dict[str, Any], job: Job) -> dict[str, Any]:
    """Params: engine.params.OPS["lips"]. Returns the lips document (and its path when ``out`` is given)."""
    p = check("lips", params)
    out = check_output_path(p["out"]) if p["out"] else None
    audio, duration = load_audio(p["audio"], job.sub(0.0, 0.2), p["audio_offset"], p["audio_duration"])
    frames, channels, visemes = generate_lips(audio, duration, p["fps"], p["strength"], job.sub(0.2, 0.98))
    time_offset = p["time_offset_ms"] / 1000.0
    if time_offset:
        frames = shift_in_time(frames, p["fps"], time_offset)
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
    weights = viseme_weights(visemes, len(frames), p["fps"], p["strength"])
    if p["blinks"]:
        frames, channels = with_blinks(frames, channels, p["fps"], p["seed"])
    meta = {"engine": __version__, "strength": p["strength"]}
    if time_offset:
        meta["time_offset_ms"] = round(p["time_offset_ms"], 3)
    doc = lips_document(frames, channels, p["fps"], visemes, meta, viseme_weights=weights)
    if out:
        write_json_atomic(out, doc)
    job.progress(1000, 1000, "done")
    return {"lips": doc, "path": out, "n_frames": len(frames)}
