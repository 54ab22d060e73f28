"""The ``pose`` op: audio + prompt (+ pins) → pose.json, through a pose backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import __version__
from .audio import load_features, require_speech
from .backends import get_backend
from .errors import BadInput
from .formats import check_output_path, pose_document, read_pose, write_json_atomic
from .jobs import Job
from .motion import apply_pins, shape_motion
from .params import check
from .styles import check_prompt


def _strength(p: dict[str, Any]) -> np.ndarray:
    """Overall strength times the per-group strengths (rotation, translation, scale), one per channel."""
    rot, trans, scale = p["strength_rotation"], p["strength_translation"], p["strength_scale"]
    return p["strength"] * np.array([rot, rot, rot, trans, trans, scale])


def _pins(source: Any, fps: float, n: int) -> np.ndarray | None:
    if source is None:
        return None
    frames, pins_fps, _doc = read_pose(source, allow_null=True)
    if abs(pins_fps - fps) > 1e-6:
        raise BadInput(f"pins are at {pins_fps:g} fps but the pose is requested at {fps:g} fps")
    out = np.full((n, 6), np.nan)
    m = min(n, len(frames))
    out[:m] = frames[:m]
    return out


def pose_op(params: dict[str, Any], job: Job) -> dict[str, Any]:
    """Params: engine.params.OPS["pose"]. Returns the pose document (and its path when ``out`` is given)."""
    p = check("pose", params)
    prompt = check_prompt(p["prompt"])
    out = check_output_path(p["out"]) if p["out"] else None
    sampler = ("guidance", "audio_guidance", "guidance_until", "posture_guidance", "posture_seconds", "steps")
    options = {k: p[k] for k in (*sampler, "pause_calm")}
    features = load_features(p["audio"], p["fps"], job.sub(0.0, 0.45), p["audio_offset"], p["audio_duration"])
    require_speech(features, p["audio"])
    pins = _pins(p["pins"], p["fps"], features.n_frames)
    strength = _strength(p)
    time_offset = p["time_offset_ms"] / 1000.0
    with job.preparing():  # torch and the weights load in native code: a cancel meanwhile is answered at once
        backend = get_backend(p["backend"])
        backend.load()
    frames = backend.generate(features, prompt, p["seed"], pins, job.sub(0.45, 0.95), **options)
    frames = shape_motion(frames, p["fps"], strength, p["smoothing"], time_offset)
    frames = apply_pins(frames, pins, p["fps"])
    job.check()
    meta = {"prompt": prompt, "seed": p["seed"], "backend": backend.name, "engine": __version__}
    meta["strength"] = [round(float(s), 4) for s in strength]
    if p["smoothing"]:
        meta["smoothing"] = p["smoothing"]
    if backend.name == "pld":
        meta.update(options)
    if time_offset:
        meta["time_offset_ms"] = round(p["time_offset_ms"], 3)
    doc = pose_document(frames, p["fps"], meta)
    if out:
        write_json_atomic(out, doc)
    job.progress(1000, 1000, "done")
    return {"pose": doc, "path": out, "n_frames": len(frames), "backend": backend.name}
