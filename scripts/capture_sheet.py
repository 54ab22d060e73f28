"""Contact sheet of motion from a reference video: frames of a performer's video beside the talking head that follows
it (examples/portrait.png driven by ``animate --pose-video --mouth-from-video``), with the captured values.

The performer is a second portrait (matplotlib's public-domain photo of Grace Hopper) made to speak
examples/speech.wav by the engine itself (head motion from a prompt, lips from the audio, natural blinks): this
project ships no video of a real person. The script then runs exactly what a user runs:

    python -m engine capture --video performer.mp4 --out pose.json --lips-out lips.json
    python -m engine animate --image examples/portrait.png --audio examples/speech.wav \\
        --pose-video performer.mp4 --mouth-from-video --out follower.mp4

Usage: ``python scripts/capture_sheet.py [--out docs/capture_sheet.png] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "examples" / "portrait.png"
SPEECH = ROOT / "examples" / "speech.wav"
PERFORMER = Path(np.__file__).parents[1] / "matplotlib" / "mpl-data" / "sample_data" / "grace_hopper.jpg"
PROMPT = "nods while talking, then turns to the left and tilts the head"
CELL = 240  # height of each frame on the sheet


def engine(out: Path, *args: str) -> None:
    """Run ``python -m engine ARGS`` for the file ``out``, unless a complete one is there (--work)."""
    if out.exists() and out.stat().st_size > 0:
        return
    subprocess.run([sys.executable, "-m", "engine", "-q", *args], cwd=ROOT, check=True)


def frames_at(video: Path, times: list[float], height: int) -> list[Image.Image]:
    out = []
    for t in times:
        cmd = ["ffmpeg", "-v", "error", "-ss", f"{t:.3f}", "-i", str(video), "-frames:v", "1", "-vf",
               f"scale=-2:{height}", "-f", "image2pipe", "-vcodec", "png", "-"]  # fmt: skip
        png = subprocess.run(cmd, capture_output=True, check=True).stdout
        with tempfile.NamedTemporaryFile(suffix=".png") as fh:
            fh.write(png)
            fh.flush()
            out.append(Image.open(fh.name).convert("RGB"))
    return out


def pick_times(pose: np.ndarray, lips: np.ndarray, fps: float, count: int = 6) -> list[int]:
    """Frames worth seeing: the widest turns and nods, the widest-open mouth, a blink, and evenly spaced others."""
    n = len(pose)
    chosen = {int(np.argmin(pose[:, 1])), int(np.argmax(pose[:, 1])), int(np.argmax(pose[:, 0])),
              int(np.argmin(pose[:, 0])), int(np.argmax(lips[:, 0]))}  # fmt: skip
    if lips[:, 4].max() > 0.5:
        chosen.add(int(np.argmax(lips[:, 4])))
    for i in np.linspace(0, n - 1, count + 2)[1:-1].astype(int):
        if len(chosen) >= count:
            break
        if all(abs(i - c) > fps for c in chosen):
            chosen.add(int(i))
    return sorted(chosen)[:count]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "capture_sheet.png"))
    ap.add_argument("--work", help="keep the intermediate files here (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="capture-sheet-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        performer = work / "performer.mp4"
        engine(performer, "animate", "--image", str(PERFORMER), "--audio", str(SPEECH), "--prompt", PROMPT, "--seed", "2",
               "--size", "384", "--out", str(performer))  # fmt: skip
        pose_file, lips_file = work / "pose.json", work / "lips.json"
        engine(pose_file, "capture", "--video", str(performer), "--out", str(pose_file), "--lips-out", str(lips_file))
        follower = work / "follower.mp4"
        engine(follower, "animate", "--image", str(PORTRAIT), "--audio", str(SPEECH), "--pose-video", str(performer),
               "--mouth-from-video", "--size", "384", "--out", str(follower))  # fmt: skip
        pose_doc, lips_doc = json.loads(pose_file.read_text()), json.loads(lips_file.read_text())
        pose, lips, fps = np.array(pose_doc["frames"]), np.array(lips_doc["frames"]), pose_doc["fps"]
        picks = [min(i, len(pose) - 3) for i in pick_times(pose, lips, fps)]  # a seek to the very end finds no frame
        times = [(i + 0.5) / fps for i in picks]
        left, right = frames_at(performer, times, CELL), frames_at(follower, times, CELL)
    pair_w = left[0].width + right[0].width
    cols = 3
    rows = (len(picks) + cols - 1) // cols
    label_h = 30
    sheet = Image.new("RGB", (cols * pair_w + (cols - 1) * 8, rows * (CELL + label_h) + 24), "white")
    draw = ImageDraw.Draw(sheet)
    title = (
        "reference video (left); examples/portrait.png following it (right): animate --pose-video --mouth-from-video"
    )
    draw.text((4, 4), title, fill="black")
    for k, (i, a, b) in enumerate(zip(picks, left, right)):
        x, y = (k % cols) * (pair_w + 8), 24 + (k // cols) * (CELL + label_h)
        sheet.paste(a, (x, y))
        sheet.paste(b, (x + a.width, y))
        p, m = pose[i], lips[i]
        draw.text((x + 2, y + CELL + 2), f"t={i / fps:.2f}s  pitch {p[0]:+.1f}  yaw {p[1]:+.1f}  roll {p[2]:+.1f}",
                  fill="black")  # fmt: skip
        draw.text((x + 2, y + CELL + 15), f"mouth_open {m[0]:.2f}  lips_closed {m[3]:.2f}  blink {m[4]:.2f}",
                  fill="black")  # fmt: skip
    sheet.save(args.out)
    print(json.dumps({"out": args.out, "frames": picks, "fps": fps}))


if __name__ == "__main__":
    main()
