"""Write a contact sheet PNG of rendered frames (poses, mouth shapes, a blink) to look at the renderer.

Mouth openings are given in millimetres of the face (``mouth_open`` = mm / 30, engine.mouth_calibration): 10 mm is
an open vowel of ordinary speech, 20 mm loud speech.

Usage: ``python scripts/contact_sheet.py [--image examples/portrait.png] [--out docs/contact_sheet.png]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.render import Renderer  # noqa: E402

# label, pitch, yaw, roll, x, y, scale, open, wide, round, closed, blink, tongue
CELLS = [
    ("neutral", 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0),
    ("yaw +15", 0, 15, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0),
    ("yaw -15", 0, -15, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0),
    ("pitch +10", 10, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0),
    ("pitch -10", -10, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0),
    ("roll +10", 0, 0, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0),
    ("roll -10", 0, 0, -10, 0, 0, 1, 0, 0, 0, 0, 0, 0),
    ("x+.2 y+.1 s1.1", 0, 0, 0, 0.2, 0.1, 1.1, 0, 0, 0, 0, 0, 0),
    ("open 10 mm", 0, 0, 0, 0, 0, 1, 1 / 3, 0, 0, 0, 0, 0),
    ("open 20 mm (loud)", 0, 0, 0, 0, 0, 1, 2 / 3, 0, 0, 0, 0, 0),
    ("round, 6 mm", 0, 0, 0, 0, 0, 1, 0.2, 0, 0.9, 0, 0, 0),
    ("wide, 8 mm", 0, 0, 0, 0, 0, 1, 0.27, 0.8, 0, 0, 0, 0),
    ("lips closed", 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0),
    ("blink", 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0),
    ("yaw 20, l (tongue)", 5, 20, -5, 0, 0, 1, 0.25, 0.4, 0, 0, 0, 1),
    ("yaw -25 pitch -10", -10, -25, 0, 0, 0, 1, 0.2, 0, 0, 0, 0.5, 0),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default=str(ROOT / "examples" / "portrait.png"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "contact_sheet.png"))
    ap.add_argument("--size", type=int, default=240)
    ap.add_argument("--crop", action="store_true", help="zoom on the face")
    args = ap.parse_args()
    r = Renderer(args.image, size=args.size, device="cpu")
    table = np.array([c[1:] for c in CELLS], dtype=np.float32)
    frames = r.render_batch(table[:, :6], table[:, 6:10], table[:, 10], table[:, 11])
    h, w = frames.shape[1:3]
    cols = 4
    rows = (len(CELLS) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * w, rows * (h + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, *_rest) in enumerate(CELLS):
        x, y = (i % cols) * w, (i // cols) * (h + 14)
        frame = Image.fromarray(frames[i][..., :3])
        sheet.paste(frame, (x, y + 14))
        draw.text((x + 3, y + 1), label, fill="black")
    sheet.save(args.out, optimize=True)
    print(args.out)


if __name__ == "__main__":
    main()
