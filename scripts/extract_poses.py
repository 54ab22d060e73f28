"""Build a training corpus from real talking videos: mediapipe head pose per frame + the video's own audio.

Each video is measured by the engine's capture (engine.capture: decoded once at the model's 25 fps, the
face tracked with mediapipe's face mesh, every frame's head pose in the renderer's channels and pivot, the
mouth's pull on the mesh taken out, detector noise filtered without lag). Short detection gaps are filled,
long ones split the video into clips (shorter than --min-seconds: dropped); the pose is, by default, made
relative to the clip's median pose. Captions come from ``--caption``, else
from a text file beside the video (``talk.mp4`` → ``talk.txt``, one caption per line), else a neutral one.
The output has the layout of ``scripts/build_corpus.py``'s, so ``scripts/train_pose.py --corpus`` takes it
(alone, or together with the synthetic corpus: give ``--corpus`` twice).

    .venv/bin/python scripts/extract_poses.py --video talk1.mp4 --video talk2.mp4 --out data/real.npz
    .venv/bin/python scripts/train_pose.py --corpus data/corpus.npz --corpus data/real.npz \\
        --init engine/weights/pld.safetensors --vae-steps 0 --steps 5000 --out data/pld_real.safetensors
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.ndimage import gaussian_filter1d

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from engine.audio import load_features  # noqa: E402
from engine.capture import MAX_GAP_S, POSE_CHANNELS, Track, corrected_pose, fill_and_filter, track_video  # noqa: E402
from engine.errors import BadInput  # noqa: E402
from engine.video import probe  # noqa: E402

FPS = 25.0
DEFAULT_CAPTION = "talks naturally"
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")


def spans(found: np.ndarray, max_gap: int, min_len: int) -> list[tuple[int, int]]:
    """[start, end) runs of frames with a face, bridging gaps of at most ``max_gap`` frames."""
    idx = np.flatnonzero(found)
    if len(idx) == 0:
        return []
    out, start, last = [], idx[0], idx[0]
    for i in idx[1:]:
        if i - last - 1 > max_gap:
            out.append((start, last + 1))
            start = i
        last = i
    out.append((start, last + 1))
    return [(a, b) for a, b in out if b - a >= min_len]


def poses_of(track: Track, a: int, b: int, reference: str, smooth_frames: float) -> np.ndarray:
    """(b - a, 6) pose channels of frames [a, b) of a track (the mouth's pull on the face mesh taken out, gaps
    inside interpolated, detector noise filtered without lag), zero at the run's first frame or its median pose."""
    raw, _ref = corrected_pose(track, a, frames=range(a, b))
    if reference == "median":  # re-measure against the frame nearest the run's typical pose
        med = np.nanmedian(raw[a:b], axis=0)
        dist = np.where(track.found[a:b], np.nansum(np.abs(raw[a:b, :3] - med[:3]), axis=1), np.inf)
        raw, _ref = corrected_pose(track, a + int(np.argmin(dist)), frames=range(a, b))
        raw[a:b] -= np.concatenate([np.nanmedian(raw[a:b, :5], axis=0), [0.0]])
        raw[a:b, 5] /= np.nanmedian(raw[a:b, 5])
    pose, _gaps = fill_and_filter(raw[a:b], track.found[a:b], FPS, POSE_CHANNELS)
    if smooth_frames > 0:
        pose = gaussian_filter1d(pose, smooth_frames, axis=0, mode="nearest")
    return pose.astype(np.float32)


def captions_for(video: str, caption: list[str] | None) -> list[str]:
    if caption:
        return caption
    side = os.path.splitext(video)[0] + ".txt"
    if os.path.isfile(side):
        lines = [ln.strip() for ln in open(side, encoding="utf-8").read().splitlines() if ln.strip()]
        if lines:
            return lines
    return [DEFAULT_CAPTION]


def extract_audio(video: str, folder: str) -> str | None:
    wav = os.path.join(folder, "audio.wav")
    proc = subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", video, "-vn", "-ac", "1", "-ar", "16000", wav],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return wav if proc.returncode == 0 and os.path.getsize(wav) > 44 else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", action="append", default=[], help="a talking video (repeat for several)")
    ap.add_argument("--videos", help="a folder: every video file in it")
    ap.add_argument("--caption", action="append", help="caption(s) of the motion for all videos")
    ap.add_argument("--reference", choices=["median", "first"], default="median",
                    help="pose zero: the clip's median pose (default) or its first frame")  # fmt: skip
    ap.add_argument("--smooth", type=float, default=0.0, help="extra Gaussian smoothing of the pose, in frames")
    ap.add_argument("--min-seconds", type=float, default=2.0, help="shortest clip kept")
    ap.add_argument("--out", default=os.path.join(ROOT, "data", "real.npz"))
    args = ap.parse_args()
    videos = list(args.video)
    if args.videos:
        videos += sorted(
            os.path.join(args.videos, f) for f in os.listdir(args.videos) if f.lower().endswith(VIDEO_EXTENSIONS)
        )
    if not videos:
        ap.error("give --video or --videos")
    t0 = time.time()
    feats, poses, cap_text, cap_pose, labels, report = [], [], [], [], [], []
    for video in videos:
        if not os.path.isfile(video):
            raise SystemExit(f"video not found: {video}")
        with tempfile.TemporaryDirectory() as tmp:
            wav = extract_audio(video, tmp)
            if wav is None:
                report.append({"video": video, "skipped": "no audio track"})
                continue
            audio = load_features(wav, FPS)
        try:
            track = track_video(probe(video), FPS, min_found=0.0)
        except BadInput as exc:
            report.append({"video": video, "skipped": exc.message})
            continue
        found = track.found
        runs = spans(found, int(MAX_GAP_S * FPS), int(args.min_seconds * FPS))
        caps = captions_for(video, args.caption)
        kept = 0
        for a, b in runs:
            b = min(b, audio.n_frames)
            if b - a < int(args.min_seconds * FPS):
                continue
            clip = audio.slice(a, b)
            if clip.is_silent:
                continue
            feats.append(clip.matrix().astype(np.float16))
            poses.append(poses_of(track, a, b, args.reference, args.smooth))
            labels.append({"source": "video", "video": os.path.basename(video), "start_s": a / FPS})
            for c in caps:
                cap_text.append(c)
                cap_pose.append(len(poses) - 1)
            kept += b - a
        report.append({"video": video, "frames": track.n, "face_found": round(float(found.mean()), 3),
                       "clips": sum(1 for lab in labels if lab["video"] == os.path.basename(video)),
                       "seconds_kept": round(kept / FPS, 2)})  # fmt: skip
    if not poses:
        raise SystemExit("no usable clips: no face, no speech, or every clip shorter than --min-seconds")

    from build_corpus import write_corpus

    meta = {"seed": None, "source": "videos", "videos": len(videos)}
    write_corpus(args.out, feats, poses, list(range(len(poses))), cap_text, cap_pose, labels, meta)
    lengths = np.array([len(p) for p in poses])
    print(json.dumps({"out": args.out, "clips": len(poses), "seconds": round(float(lengths.sum() / FPS), 1),
                      "videos": report, "seconds_total": round(time.time() - t0, 1)}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
