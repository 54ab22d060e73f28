#!/usr/bin/env python
"""English transcript alignment two ways, measured on flite and Piper speech; prints JSON.

* ``dtw``: the engine's aligner (engine.transcript: espeak-ng speech warped onto the audio, then re-estimated
  in the speaker's spectrum); works for every language espeak-ng speaks.
* ``pocketsphinx``: PocketSphinx's forced aligner with its en-us acoustic model and CMU dictionary (word
  alignment, then its phone-level second pass); English words of the dictionary only.

Both feed the same lip sync (engine.lips); per clip and on average: correlation of ``mouth_open`` with the
reference openness, bilabial closure, and the aligner's speed in × real time (CPU time of this process and
its children, PocketSphinx's model load excluded). This is how the engine's aligner was chosen.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from eval_lips import FPS, TEXTS, cpu_time, make_clip, score  # noqa: E402

from engine.lips import generate_lips  # noqa: E402
from engine.phonemes import ARPABET_IPA, PhoneSegment  # noqa: E402
from engine.transcript import align_transcript  # noqa: E402

CLIPS = [("flite", v, k) for v in ("slt", "rms", "awb") for k in range(3)] + [
    ("piper", v, k) for v in (1.0, 1.2) for k in range(3)
]


def _decoder():
    from pocketsphinx import Decoder, get_model_path

    model = os.path.join(get_model_path(), "en-us")
    return Decoder(
        hmm=os.path.join(model, "en-us"),
        dict=os.path.join(model, "cmudict-en-us.dict"),
        lm=None,
        bestpath=False,
        samprate=16000,
        loglevel="FATAL",
    )


def pocketsphinx_phones(decoder, audio: np.ndarray, text: str) -> list[PhoneSegment]:
    words = re.sub(r"[^a-z' ]", " ", text.lower()).split()
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()
    decoder.set_align_text(" ".join(words))
    for second_pass in (False, True):
        if second_pass:
            decoder.set_alignment()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
    phones = []
    for word in decoder.get_alignment():
        for phone in word:
            name = ARPABET_IPA.get(phone.name, "_")
            phones.append(PhoneSegment(name, phone.start / 100, (phone.start + phone.duration) / 100))
    return phones


def main() -> None:
    decoder = _decoder()
    rows = []
    for synth, voice, k in CLIPS:
        text = TEXTS["en"][k]
        audio, duration, reference = make_clip(synth, voice, text)
        row = {"synth": synth, "voice": voice, "seconds": round(duration, 2)}
        for name in ("dtw", "pocketsphinx"):
            c0 = cpu_time()
            if name == "dtw":
                phones = align_transcript(audio, duration, text, "en-us").phones
            else:
                phones = pocketsphinx_phones(decoder, audio, text)
            elapsed = cpu_time() - c0
            frames = generate_lips(audio, duration, FPS, phones=phones)[0]
            s = score(frames, reference)
            row[name] = {k: s[k] for k in ("correlation", "bilabial_closure")} | {
                "x_realtime_cpu": round(duration / elapsed, 1)
            }
        rows.append(row)
    summary = {
        name: {
            key: round(float(np.mean([r[name][key] for r in rows])), 3)
            for key in ("correlation", "bilabial_closure", "x_realtime_cpu")
        }
        | {"min_correlation": round(float(min(r[name]["correlation"] for r in rows)), 3)}
        for name in ("dtw", "pocketsphinx")
    }
    print(json.dumps({"summary": summary, "clips": rows}, indent=1))


if __name__ == "__main__":
    main()
