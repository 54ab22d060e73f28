#!/usr/bin/env python
"""Plot a clip's lip sync against its phones and waveform, with and without its transcript, into a PNG.

The speech is made by one of the reference synthesizers (``scripts/reference_speech.py``), so the phones
drawn on top are the synthesizer's own, with their times; below them: the waveform, then for each path
(with the transcript aligned to the audio, and from the audio alone) ``mouth_open`` against the phones'
reference openness, ``lips_closed``, and the visemes as letters. Default: a French line by espeak-ng.

    .venv/bin/python scripts/plot_lips.py --out docs/lips_french.png
    .venv/bin/python scripts/plot_lips.py --synth flite --voice slt --language en --text "Bob bought a map."
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import reference_speech as ref  # noqa: E402
from eval_lips import make_clip, reference_track  # noqa: E402

from engine.lips import generate_lips  # noqa: E402
from engine.transcript import align_transcript  # noqa: E402

FPS = 100.0
FRENCH = "Mon petit bateau bleu passe sous le pont, mais maman préfère la mer."


def _visemes(ax, visemes: list[dict], y: float) -> None:
    for v in visemes:
        if v["shape"] != "X" and v["end"] - v["start"] >= 0.02:
            ax.text((v["start"] + v["end"]) / 2, y, v["shape"], ha="center", va="center", fontsize=7)


def plot(audio: np.ndarray, duration: float, phones, text: str, language: str, title: str, out: str) -> None:
    alignment = align_transcript(audio, duration, text, language)
    runs = {
        f"with the transcript (alignment {'good' if alignment.good else 'poor'})": generate_lips(
            audio, duration, FPS, phones=alignment.phones
        ),
        "from the audio alone": generate_lips(audio, duration, FPS),
    }
    t_audio = np.arange(len(audio)) / 16000
    fig, axes = plt.subplots(1 + len(runs), 1, figsize=(16, 3.2 + 2.6 * len(runs)), sharex=True)
    ax = axes[0]
    ax.plot(t_audio, audio, lw=0.4, color="0.4")
    for p in phones:
        ax.axvline(p.start, color="tab:blue", lw=0.3, alpha=0.5)
        ax.text((p.start + p.end) / 2, 1.02 * np.abs(audio).max(), p.name, ha="center", fontsize=8, color="tab:blue")
    ax.set_ylabel("waveform")
    ax.set_title(f"{title}: \u201c{text}\u201d\nphones and times from the synthesizer (blue)", fontsize=10)
    for ax, (label, (frames, _channels, visemes)) in zip(axes[1:], runs.items()):
        t = np.arange(len(frames)) / FPS
        reference = reference_track(phones, len(frames))
        corr = np.corrcoef(frames[:, 0], reference)[0, 1]
        ax.fill_between(t, 0, reference, step="post", color="tab:blue", alpha=0.15, label="reference openness")
        ax.plot(t, frames[:, 0], color="tab:red", lw=1.4, label="mouth_open")
        ax.plot(t, frames[:, 3], color="k", lw=1.0, ls="--", label="lips_closed")
        ax.plot(t, frames[:, 2], color="tab:green", lw=0.8, label="mouth_round")
        for p in phones:
            if ref.is_bilabial(p.name):
                ax.axvspan(p.start, p.end, color="tab:orange", alpha=0.25, lw=0)
        _visemes(ax, visemes, 1.08)
        ax.set_ylim(-0.05, 1.15)
        ax.set_ylabel("0..1")
        ax.set_title(f"{label}: correlation with the reference {corr:.2f}; p/b/m shaded", fontsize=9)
        ax.legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synth", default="espeak", choices=["espeak", "flite", "piper", "festival"])
    parser.add_argument("--voice", default="fr+m3", help="the synthesizer's voice (piper: its length scale)")
    parser.add_argument("--language", default="fr", help="espeak-ng language code of the text")
    parser.add_argument("--text", default=FRENCH)
    parser.add_argument("--out", default="docs/lips_french.png")
    args = parser.parse_args()
    voice = float(args.voice) if args.synth == "piper" else args.voice
    audio, duration, phones = make_clip(args.synth, voice, args.text)
    plot(audio, duration, phones, args.text, args.language, f"{args.synth} {args.voice}", args.out)


if __name__ == "__main__":
    main()
