"""The ``pose`` op: audio + prompt (+ pins) → pose.json, through a pose backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import __version__
from .audio import check_fps, load_features
from .backends import get_backend
from .errors import BadInput
from .formats import check_output_path, pose_document, read_pose, write_json_atomic
from .jobs import Job, register
from .motion import apply_pins, shape_motion
from .params import number, whole
from .styles import check_prompt


def _strength(params: dict[str, Any]) -> np.ndarray:
    """Overall strength times optional per-group strengths (rotation, translation, scale)."""
    overall = number(params, "strength", 1.0, 0.0, 5.0)
    rot = number(params, "strength_rotation", 1.0, 0.0, 5.0)
    trans = number(params, "strength_translation", 1.0, 0.0, 5.0)
    scale = number(params, "strength_scale", 1.0, 0.0, 5.0)
    return overall * np.array([rot, rot, rot, trans, trans, scale])


def _pins(params: dict[str, Any], fps: float, n: int) -> np.ndarray | None:
    source = params.get("pins")
    if source in (None, ""):
        return None
    frames, pins_fps, _doc = read_pose(source, allow_null=True)
    if abs(pins_fps - fps) > 1e-6:
        raise BadInput(f"pins are at {pins_fps:g} fps but the pose is requested at {fps:g} fps")
    out = np.full((n, 6), np.nan)
    m = min(n, len(frames))
    out[:m] = frames[:m]
    return out


@register("pose")
def pose_op(params: dict[str, Any], job: Job) -> dict[str, Any]:
    """Params: audio, prompt, seed, fps, pins, out, backend, strength[_rotation|_translation|_scale],
    smoothing (s), time_offset_ms (lead < 0 < lag), audio_offset, audio_duration, guidance. Returns the pose document."""
    audio = params.get("audio")
    if not audio:
        raise BadInput("no audio file given")
    prompt = check_prompt(params.get("prompt"))
    fps = check_fps(params.get("fps", 25.0))
    seed = whole(params, "seed", 0, 0, 2**32 - 1)
    strength = _strength(params)
    smoothing = number(params, "smoothing", 0.0, 0.0, 5.0)
    time_offset = number(params, "time_offset_ms", 0.0, -2000.0, 2000.0) / 1000.0
    out = check_output_path(params["out"]) if params.get("out") else None
    backend = get_backend(params.get("backend"))
    options = {}
    if params.get("guidance") is not None:
        options["guidance"] = number(params, "guidance", 2.0, 0.0, 20.0)

    features = load_features(
        str(audio), fps, job.sub(0.0, 0.45), params.get("audio_offset") or 0.0, params.get("audio_duration")
    )
    if features.is_silent:
        raise BadInput(f"the audio is silent: there is no speech to move the head to ({audio})")
    pins = _pins(params, fps, features.n_frames)
    frames = backend.generate(features, prompt, seed, pins, job.sub(0.45, 0.95), **options)
    frames = shape_motion(frames, fps, strength, smoothing, time_offset)
    frames = apply_pins(frames, pins, fps)
    job.check()
    meta = {"prompt": prompt, "seed": seed, "backend": backend.name, "engine": __version__}
    meta["strength"] = [round(float(s), 4) for s in strength]
    if smoothing:
        meta["smoothing"] = smoothing
    if options:
        meta.update(options)
    if time_offset:
        meta["time_offset_ms"] = round(time_offset * 1000.0, 3)
    doc = pose_document(frames, fps, meta)
    if out:
        write_json_atomic(out, doc)
    job.progress(1000, 1000, "done")
    return {"pose": doc, "path": out, "n_frames": len(frames), "backend": backend.name}
