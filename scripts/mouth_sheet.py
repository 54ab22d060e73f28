"""Contact sheets of the mouth: the same moments of speech before and after a change, and the viseme shapes.

``docs/mouth_before_after.png``: for three portraits (closed lips, a toothy smile, a small face in a wide frame),
the mouth at the same frames of one line of speech (a Festival voice, strength 1, neutral pose, no blinks),
rendered by an earlier checkout of the engine (``--before``, e.g. ``git worktree add /tmp/before <commit>``) and
by this one. The frames are picked from this checkout's ``mouth_open`` (from its smallest to its largest opening),
so both rows show the same instants. ``docs/mouth_visemes.png``: the visemes A-H and X side by side at their
conversational apertures (engine.mouth_calibration), with the tongue tip up on H.
Usage: ``python scripts/mouth_sheet.py [--before DIR] [--out docs]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from portraits import TOOTHY, closed_lips, small_face_wide  # noqa: E402
from speech_voices import speech_clip  # noqa: E402

LINE = ["Honestly, I didn't expect the results to come back so quickly. Shall we talk about it over lunch?"]
VOICE = "festival:kal_diphone"
CELL_W = 200
N_FRAMES = 7
VISEME_PHONES = {"A": "m", "B": "t", "C": "ɛ", "D": "ɑ", "E": "ɔ", "F": "u", "G": "f", "H": "l"}  # one phone each


def portraits(folder: str) -> list[tuple[str, str, int]]:
    return [("closed lips", closed_lips(), 512), ("toothy smile", TOOTHY, 512),
            ("small face, wide frame", small_face_wide(folder), 768)]  # fmt: skip


def mouth_box(lm: np.ndarray, w: int, h: int) -> tuple[int, int, int, int]:
    c = (lm[61, :2] + lm[291, :2]) / 2
    half = float(np.linalg.norm(lm[61, :2] - lm[291, :2]))
    return (max(0, int(c[0] - 1.1 * half)), max(0, int(c[1] - 0.75 * half)), min(w, int(c[0] + 1.1 * half)),
            min(h, int(c[1] + 1.0 * half)))  # fmt: skip


def render_moments(audio: str, frames: list[int] | None, folder: str, out: str) -> None:
    """With the engine on ``sys.path``: lips of ``audio`` at strength 1, then the mouth crops of ``frames`` (None:
    pick them from this engine's mouth_open) for every portrait, saved to ``out`` (.npz)."""
    from engine.jobs import Job, run_op  # noqa: PLC0415
    from engine.render import Renderer  # noqa: PLC0415

    doc = run_op("lips", {"audio": audio, "fps": 25.0}, Job("sheet"))["lips"]
    lips = np.array(doc["frames"], dtype=np.float32)
    if frames is None:
        spoken = np.flatnonzero(lips[:, 3] < 0.5)
        order = spoken[np.argsort(lips[spoken, 0], kind="stable")]
        frames = [int(order[int(round(q * (len(order) - 1)))]) for q in np.linspace(0.1, 1.0, N_FRAMES)]
        frames = sorted(frames)
    crops = {}
    for label, path, size in portraits(folder):
        r = Renderer(path, size=size, device="cpu")
        n = len(lips)
        pose = np.tile([0, 0, 0, 0, 0, 1.0], (n, 1))
        kwargs = {"visemes": doc.get("visemes")} if "visemes" in r.render.__code__.co_varnames else {}
        rendered = np.concatenate(list(r.render(pose, lips, doc["channels"], fps=25.0, blinks=False, **kwargs)))
        x0, y0, x1, y1 = mouth_box(r.portrait.landmarks, r.width, r.height)
        crops[label] = np.stack([rendered[i, y0:y1, x0:x1, :3] for i in frames])
    np.savez(out, frames=np.array(frames), opening=lips[frames, 0], **crops)


def _run_child(root: str, audio: str, frames: list[int] | None, folder: str, out: str) -> None:
    env = dict(os.environ, PYTHONPATH=root)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", root, "--audio", audio, "--folder", folder,
           "--npz", out] + (["--frames", json.dumps(frames)] if frames is not None else [])  # fmt: skip
    subprocess.run(cmd, check=True, env=env, cwd=root)


def _cell(img: np.ndarray, height: int) -> Image.Image:
    im = Image.fromarray(img)
    return im.resize((CELL_W, int(round(img.shape[0] * CELL_W / img.shape[1]))), Image.LANCZOS).crop(
        (0, 0, CELL_W, height)
    )


def before_after(before: str | None, folder: str, out: str) -> None:
    audio, _ = speech_clip(VOICE, LINE, folder)
    after_npz = os.path.join(folder, "after.npz")
    _run_child(str(ROOT), audio, None, folder, after_npz)
    after = np.load(after_npz)
    frames = [int(i) for i in after["frames"]]
    rows: list[tuple[str, np.ndarray]] = []
    prev = None
    if before:
        before_npz = os.path.join(folder, "before.npz")
        _run_child(before, audio, frames, folder, before_npz)
        prev = np.load(before_npz)
    for label, _path, _size in portraits(folder):
        if prev is not None:
            rows.append((f"{label}: before", prev[label]))
        rows.append((f"{label}: after", after[label]))
    height = int(CELL_W * 0.8)
    sheet = Image.new("RGB", (CELL_W * len(frames), (height + 16) * len(rows) + 16), "white")
    draw = ImageDraw.Draw(sheet)
    times = "   ".join(f"{i / 25:.2f} s" for i in frames)
    draw.text((4, 2), f"same frames of one line ({VOICE}, strength 1): {times}", fill="black")
    for j, (label, crops) in enumerate(rows):
        y = 16 + j * (height + 16)
        draw.text((4, y + 2), label, fill="black")
        for i, crop in enumerate(crops):
            sheet.paste(_cell(crop, height), (i * CELL_W, y + 16))
    sheet.quantize(256, dither=Image.FLOYDSTEINBERG).save(out, optimize=True)  # small enough to commit


def visemes(folder: str, out: str) -> None:
    sys.path.insert(0, str(ROOT))
    from engine.ipa import REST, shape  # noqa: PLC0415
    from engine.mouth_calibration import APERTURE_MM_PER_UNIT, VISEME_APERTURE_MM  # noqa: PLC0415
    from engine.render import Renderer  # noqa: PLC0415
    from engine.render.renderer import TONGUE_SHAPES  # noqa: PLC0415

    shapes = list("ABCDEFGHX")
    targets = {v: (REST if v == "X" else shape(VISEME_PHONES[v])).targets for v in shapes}
    mouth = np.array([[VISEME_APERTURE_MM[v] / APERTURE_MM_PER_UNIT, *targets[v][1:]] for v in shapes])
    mouth[:, 3] = np.where(mouth[:, 3] >= 0.9, 1.0, mouth[:, 3] * 0.5)  # as the lip sync writes lips_closed
    tongue = np.array([TONGUE_SHAPES.get(v, 0.0) for v in shapes])
    height = int(CELL_W * 0.8)
    ports = portraits(folder)
    sheet = Image.new("RGB", (CELL_W * len(shapes), (height + 16) * len(ports) + 16), "white")
    draw = ImageDraw.Draw(sheet)
    for i, v in enumerate(shapes):
        draw.text((i * CELL_W + 4, 2), f"{v}  {VISEME_APERTURE_MM[v]:.0f} mm", fill="black")
    for j, (label, path, size) in enumerate(ports):
        r = Renderer(path, size=size, device="cpu")
        pose = np.tile([0, 0, 0, 0, 0, 1.0], (len(shapes), 1))
        frames = r.render_batch(pose, mouth, np.zeros(len(shapes)), tongue)
        x0, y0, x1, y1 = mouth_box(r.portrait.landmarks, r.width, r.height)
        y = 16 + j * (height + 16)
        draw.text((4, y + 2), label, fill="black")
        for i, f in enumerate(frames):
            sheet.paste(_cell(f[y0:y1, x0:x1, :3], height), (i * CELL_W, y + 16))
    sheet.quantize(256, dither=Image.FLOYDSTEINBERG).save(out, optimize=True)  # small enough to commit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", help="root of an earlier checkout to compare with (its engine renders the 'before')")
    ap.add_argument("--out", default=str(ROOT / "docs"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--audio", help=argparse.SUPPRESS)
    ap.add_argument("--frames", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--npz", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        render_moments(args.audio, json.loads(args.frames) if args.frames else None, args.folder, args.npz)
        return
    folder = os.path.join(tempfile.gettempdir(), "posetalk-mouth-sheet")
    os.makedirs(folder, exist_ok=True)
    before_after(args.before, folder, os.path.join(args.out, "mouth_before_after.png"))
    visemes(folder, os.path.join(args.out, "mouth_visemes.png"))
    print(json.dumps({"before_after": os.path.join(args.out, "mouth_before_after.png"),
                      "visemes": os.path.join(args.out, "mouth_visemes.png")}))  # fmt: skip


if __name__ == "__main__":
    main()
