"""Plot generated head motion for several prompts against the audio waveform and its onsets (PNG, for looking at it).

The onsets (grey vertical lines) are the audio beats of scripts/eval_pose.py's Beat Align: peaks of the
onset strength inside speech. The kinematic beats of the motion (dots: where the head's turning speed has
a minimum) should fall near them.

    .venv/bin/python scripts/plot_pose.py --audio examples/speech.wav --out out/pose_plot.png \
        --backend pld "nods slowly, then looks to the left" "shakes the head" "calm and still"
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prompts", nargs="+")
    ap.add_argument("--audio", default=os.path.join(ROOT, "examples", "speech.wav"))
    ap.add_argument("--backend", default="pld")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--channels", type=int, default=3, choices=(2, 3), help="2: pitch and yaw only")
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "pose_plot.png"))
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from eval_pose import FPS, audio_beats, motion_beats

    from engine.audio import load_audio, load_features
    from engine.backends import get_backend

    audio, duration = load_audio(args.audio)
    feats = load_features(args.audio, args.fps)
    backend = get_backend(args.backend)
    fig, axes = plt.subplots(len(args.prompts) + 1, 1, figsize=(12, 2.2 * (len(args.prompts) + 1)), sharex=True)
    t_audio = np.arange(len(audio)) / 16000.0
    axes[0].plot(t_audio, audio, lw=0.3, color="gray")
    axes[0].plot(np.arange(feats.n_frames) / args.fps, feats.speech * np.abs(audio).max(), color="green", lw=1)
    axes[0].set_title(f"{os.path.basename(args.audio)} (green: speech activity, grey: onsets)")
    t = np.arange(feats.n_frames) / args.fps
    beats = audio_beats(load_features(args.audio, FPS)) / FPS
    for ax in axes:
        for b in beats:
            ax.axvline(b, color="gray", lw=0.6, alpha=0.6)
    for ax, prompt in zip(axes[1:], args.prompts):
        frames = backend.generate(feats, prompt, args.seed, None, lambda *a: None)
        for c, name in enumerate(["pitch", "yaw", "roll"][: args.channels]):
            ax.plot(t, frames[:, c], label=name, lw=1.2)
        kinematic = motion_beats(frames) if args.fps == FPS else np.zeros(0, int)
        ax.plot(t[kinematic], frames[kinematic, 0], "k.", ms=4, label="kinematic beats")
        ax.plot(t, (frames[:, 5] - 1) * 100, label="(scale-1)×100", lw=1, ls="--")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel("deg")
        ax.set_title(f"{args.backend}: {prompt!r}", fontsize=9)
        ax.legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(args.out)


if __name__ == "__main__":
    main()
