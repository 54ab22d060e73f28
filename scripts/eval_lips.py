#!/usr/bin/env python
"""Lip-sync quality against the phone timing of the synthesizer that made the speech; prints JSON.

Speech with known phone timing (``scripts/reference_speech.py``): flite (voices slt, rms, awb) and Piper
(joe, two speaking rates) in English; festival (evaluation only: English kal, ked, slt HTS; Czech dita,
machac); espeak-ng in English, German, Spanish and French, for sanity checks only, since the transcript
aligner itself speaks the text with espeak-ng. Each phone gets a reference openness (0 closed for p/b/m …
1 for "a"). Per clip, with the transcript (``--text``, aligned to the audio) and without it (recognized phones):

* ``correlation``: Pearson correlation of ``mouth_open`` (at 100 fps) with the reference openness;
* ``best_lag_ms``: the lag within ±200 ms where that correlation peaks (positive: the mouth leads the sound);
* ``bilabial_closure``: the share of p/b/m during which ``lips_closed`` > 0.5;
* ``closed_elsewhere``: the share of frames inside other phones (away from p/b/m) with the lips closed.

Groups report the means (closure: over all bilabials). ``mismatch``: each clip also gets a wrong transcript
(another sentence, the same text in another language, only its first half): the share flagged ``poor``
(it should be 1) and the share of right transcripts flagged (it should be 0). The thresholds were set on
espeak-ng, flite and Piper clips; festival's rows check them on voices never tuned on. ``speed``: a minute of
speech with its transcript at 25 fps, in × real time (wall clock, and this process's CPU time, which other
work on a shared machine does not skew, its forked children included). Targets: with a transcript, correlation ≥ 0.80 in every language
and bilabial closure ≥ 0.9; without one, English as before; ≥ 20× real time with a transcript.

``--audio-only`` measures the recognizer path alone (the engine before transcripts can be measured with it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import reference_speech as ref  # noqa: E402

from engine.lips import generate_lips  # noqa: E402

FPS = 100.0
TEXTS = {
    "en": [
        "Papa bought a big blue map. My mother may bring bread and butter before the movie.",
        "The weather today is warm and bright, but tomorrow there might be rain in the valley.",
        "Maybe we could meet at the pub before the film begins, unless Bob objects to the plan.",
        "I honestly thought the boat would sink, but it floated all the way home.",
    ],
    "de": [
        "Mein Bruder baut ein großes Boot, aber Papa möchte lieber am Meer bleiben.",
        "Am Morgen trinken wir Kaffee und lesen die Zeitung im Garten.",
    ],
    "es": [
        "Mi papá bebe mucho café por la mañana y baila bien en la playa.",
        "Mañana vamos a comprar pan y manzanas en el mercado del barrio.",
    ],
    "fr": [
        "Mon petit bateau bleu passe sous le pont, mais maman préfère la mer.",
        "Le matin, nous buvons du café et nous lisons le journal au jardin.",
    ],
    "cs": [
        "Máma mele maso a táta peče chleba.",
        "Pavel bydlí v malém domě blízko parku a každé ráno běhá.",
        "Zítra pojedeme vlakem do Brna a potom na výlet k babičce.",
    ],
}
# (synthesizer, language of the texts, language code given with them, voices, role): "tune" sets may set
# thresholds and weights, "eval" sets never; the American voices get their text as American English
SETS = [
    ("flite", "en", "en-us", ["slt", "rms", "awb"], "tune"),
    ("piper", "en", "en-us", [1.0, 1.2], "tune"),
    ("festival", "en", "en-us", ["kal", "ked", "slt_hts"], "eval"),
    ("festival", "cs", "cs", ["cs_dita", "cs_machac"], "eval"),
    ("espeak", "en", "en", ["en-us+m3", "en+f3"], "sanity"),
    ("espeak", "de", "de", ["de+m3", "de+f2"], "sanity"),
    ("espeak", "es", "es", ["es+m3", "es+f2"], "sanity"),
    ("espeak", "fr", "fr", ["fr+m3", "fr+f2"], "sanity"),
]
ESPEAK_RATE = 150  # the aligner speaks at its own default rate and matches the recording's


def make_clip(synth: str, voice, text: str) -> ref.Clip:
    if synth == "flite":
        return ref.flite_clip(text, voice)
    if synth == "piper":
        return ref.piper_clip(text, voice)
    if synth == "festival":
        return ref.festival_clip(text, voice)
    return ref.espeak_clip(text, voice, ESPEAK_RATE)


def reference_track(phones, n: int) -> np.ndarray:
    out = np.zeros(n)
    for p in phones:
        out[int(p.start * FPS) : int(p.end * FPS)] = ref.openness(p.name)
    return out


def score(frames: np.ndarray, phones) -> dict:
    n = len(frames)
    reference = reference_track(phones, n)
    mouth = frames[:, 0].astype(np.float64)
    corr = {lag: float(np.corrcoef(np.roll(mouth, lag), reference)[0, 1]) for lag in range(-20, 21)}
    best = max(corr, key=corr.get)
    bilabials = [p for p in phones if ref.is_bilabial(p.name)]
    closed = [
        frames[int(p.start * FPS) : max(int(p.end * FPS), int(p.start * FPS) + 1), 3].max() > 0.5 for p in bilabials
    ]
    near = np.zeros(n, bool)
    for p in bilabials:
        near[max(0, int(p.start * FPS) - 3) : int(p.end * FPS) + 3] = True
    speaking = reference > 0
    return {
        "correlation": round(corr[0], 3),
        "best_lag_ms": int(best * 1000 / FPS),
        "bilabial_closure": round(float(np.mean(closed)), 3) if closed else None,
        "bilabials": len(closed),
        "closed_elsewhere": round(float((frames[:, 3] > 0.5)[speaking & ~near].mean()), 3),
    }


def with_transcript(audio, duration, text: str, language: str) -> tuple[np.ndarray, dict]:
    from engine.transcript import align_transcript

    alignment = align_transcript(audio, duration, text, language)
    info = {"mean_ratio": round(alignment.mean_ratio, 3), "poor_share": round(alignment.poor_share, 3)}
    info["good"] = alignment.good
    frames = generate_lips(audio, duration, FPS, phones=alignment.phones)[0]
    return frames, info


def wrong_texts(language: str, code: str, text: str) -> dict[str, tuple[str, str]]:
    """Transcripts that do not match ``text``'s audio: (text, language code) by kind."""
    others = [t for t in TEXTS[language] if t != text]
    other_language = "de" if language != "de" else "fr"
    words = text.split()
    return {
        "other_sentence": (others[0], code),
        "other_language": (TEXTS[other_language][0], other_language),
        "first_half_only": (" ".join(words[: len(words) // 2]), code),
    }


def evaluate_clip(synth: str, voice, language: str, code: str, text: str, audio_only: bool) -> dict:
    audio, duration, phones = make_clip(synth, voice, text)
    row: dict = {"synth": synth, "voice": voice, "language": language, "seconds": round(duration, 2)}
    frames = generate_lips(audio, duration, FPS)[0]
    row["without"] = score(frames, phones)
    if audio_only:
        return row
    t0 = time.perf_counter()
    frames, info = with_transcript(audio, duration, text, code)
    row["x_realtime"] = round(duration / (time.perf_counter() - t0), 1)
    row["with"] = {**score(frames, phones), **info}
    row["mismatch"] = {}
    for kind, (wrong, wrong_language) in wrong_texts(language, code, text).items():
        _frames, wrong_info = with_transcript(audio, duration, wrong, wrong_language)
        row["mismatch"][kind] = wrong_info
    return row


def summarize(rows: list[dict], key: str) -> dict:
    scored = [r[key] for r in rows if key in r]
    if not scored:
        return {}
    total_b = sum(s["bilabials"] for s in scored)
    closure = sum((s["bilabial_closure"] or 0) * s["bilabials"] for s in scored) / max(total_b, 1)
    return {
        "correlation": round(float(np.mean([s["correlation"] for s in scored])), 3),
        "min_correlation": round(float(np.min([s["correlation"] for s in scored])), 3),
        "max_abs_lag_ms": int(max(abs(s["best_lag_ms"]) for s in scored)),
        "bilabial_closure": round(closure, 3),
        "closed_elsewhere": round(float(np.mean([s["closed_elsewhere"] for s in scored])), 3),
    }


def cpu_time() -> float:
    """CPU seconds of this process and its finished children (espeak-ng speaks in forked children)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def speed() -> dict:
    from engine.transcript import align_transcript

    text = " ".join(TEXTS["en"] * 3)
    audio, duration, _ = ref.flite_clip(text, "slt")
    t0, c0 = time.perf_counter(), cpu_time()
    alignment = align_transcript(audio, duration, text, "en-us")
    generate_lips(audio, duration, 25.0, phones=alignment.phones)
    wall, cpu = time.perf_counter() - t0, cpu_time() - c0
    return {
        "seconds": round(duration, 1),
        "x_realtime": round(duration / wall, 1),
        "x_realtime_cpu": round(duration / cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--audio-only", action="store_true", help="only the path without a transcript")
    parser.add_argument("--sets", nargs="*", help="only these synthesizers (flite, piper, festival, espeak)")
    parser.add_argument("--speed-only", action="store_true", help="only the speed with a transcript")
    args = parser.parse_args()
    if args.speed_only:
        print(json.dumps({"speed": speed()}, indent=1))
        return
    import torch

    torch.set_num_threads(2)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warm = ref.espeak_clip("warming up the recognizer")
    generate_lips(warm[0], warm[1], FPS)  # load it once, outside the timings
    groups, rows = [], []
    for synth, language, code, voices, role in SETS:
        if args.sets and synth not in args.sets:
            continue
        group = [
            evaluate_clip(synth, voice, language, code, text, args.audio_only)
            for voice in voices
            for text in TEXTS[language][: 3 if synth != "espeak" else 2]
        ]
        rows += group
        entry = {"synth": synth, "language": language, "role": role, "clips": len(group)}
        entry["without"] = summarize(group, "without")
        if not args.audio_only:
            entry["with"] = summarize(group, "with")
            entry["with"]["flagged_poor"] = round(float(np.mean([not r["with"]["good"] for r in group])), 3)
            kinds = group[0]["mismatch"].keys()
            entry["mismatch_flagged"] = {
                k: round(float(np.mean([not r["mismatch"][k]["good"] for r in group])), 3) for k in kinds
            }
            entry["x_realtime"] = round(float(np.median([r["x_realtime"] for r in group])), 1)
        groups.append(entry)
    out: dict = {"groups": groups}
    if not args.audio_only:
        out["speed"] = speed()
        measured = [g for g in groups if g["role"] != "sanity"]
        out["targets"] = {"correlation": 0.8, "bilabial_closure": 0.9, "x_realtime": 20}
        out["meets_targets"] = (
            all(g["with"]["min_correlation"] >= 0.8 for g in measured)
            and all(g["with"]["bilabial_closure"] >= 0.9 for g in measured)
            and out["speed"]["x_realtime_cpu"] >= 20
        )
    out["clips"] = rows
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
