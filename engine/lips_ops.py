"""The ``lips`` op: audio (and its transcript) → lips.json (mouth channels, visemes and per-frame viseme weights;
an eyelid channel ``blink`` on request).

With ``text`` the phones come from the transcript aligned to the audio (engine.transcript, any language
espeak-ng speaks); a transcript the audio does not match (the alignment's own cost says so) gives a warning,
``meta.alignment = "poor"`` and the result from the audio alone. Without ``text`` the phones are recognized
with the English phone model; other languages are then carried by the acoustic side, and ``meta`` says so.
"""

from __future__ import annotations

from typing import Any

from . import __version__
from .audio import ANALYSIS_RATE, compute_features, load_audio
from .espeak import check_language
from .formats import check_output_path, lips_document, write_json_atomic
from .jobs import Job
from .lips import generate_lips
from .motion import shift_in_time
from .params import check
from .transcript import align_transcript
from .viseme_weights import viseme_weights, with_blinks

POOR_ALIGNMENT = (
    "the transcript does not match the audio (another line, another language or missing words?): "
    "the mouth follows the audio alone"
)


def lips_op(params: dict[str, Any], job: Job) -> dict[str, Any]:
    """Params: engine.params.OPS["lips"]. Returns the lips document (and its path when ``out`` is given),
    and a ``warning`` when the transcript did not match the audio."""
    p = check("lips", params)
    language = check_language(p["language"])
    text = " ".join((p["text"] or "").split())
    out = check_output_path(p["out"]) if p["out"] else None
    audio, duration = load_audio(p["audio"], job.sub(0.0, 0.2), p["audio_offset"], p["audio_duration"])
    features = compute_features(audio, duration, ANALYSIS_RATE, job.sub(0.2, 0.3), pitch=False)
    meta: dict[str, Any] = {"engine": __version__, "strength": p["strength"], "language": language}
    phones, warning = None, None
    if text:
        alignment = align_transcript(audio, duration, text, language, job.sub(0.3, 0.7), features)
        meta["alignment"] = "good" if alignment.good else "poor"
        meta["alignment_cost"] = round(alignment.mean_ratio, 3)
        if alignment.good:
            phones = alignment.phones
        else:
            warning = POOR_ALIGNMENT
    meta["phones"] = "transcript" if phones is not None else "recognized (English phone model)"
    if phones is None and language.split("-")[0] != "en":
        meta["note"] = (
            f"without a transcript that matches, {language} speech is lip-synced from the sound: loudness and "
            "spectrum lead, the phones are the English model's nearest guesses"
        )
    frames, channels, visemes = generate_lips(
        audio, duration, p["fps"], p["strength"], job.sub(0.7, 0.98), phones=phones, features=features
    )
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
    if time_offset:
        meta["time_offset_ms"] = round(p["time_offset_ms"], 3)
    doc = lips_document(frames, channels, p["fps"], visemes, meta, viseme_weights=weights)
    if out:
        write_json_atomic(out, doc)
    job.progress(1000, 1000, "done")
    result: dict[str, Any] = {"lips": doc, "path": out, "n_frames": len(frames)}
    if warning:
        result["warning"] = warning
    return result
