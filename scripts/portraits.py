"""The test portraits of the mouth evaluation and the contact sheet: a toothy smile (the bundled astronaut), closed
lips (matplotlib's public-domain Grace Hopper photo) and a small face in a wide frame (built from the astronaut)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
TOOTHY = str(ROOT / "examples" / "portrait.png")


def closed_lips() -> str:
    """Grace Hopper (public domain), shipped with matplotlib."""
    import matplotlib  # noqa: PLC0415

    return str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")


def small_face_wide(folder: str, width: int = 1600, height: int = 900, face_px: int = 700) -> str:
    """The astronaut ``face_px`` tall, left of centre on a wide canvas (a blurred stretch of the portrait's own
    colours), written once to ``folder``."""
    out = os.path.join(folder, f"small_face_{width}x{height}_{face_px}.png")
    if os.path.isfile(out):
        return out
    src = Image.open(TOOTHY).convert("RGB")
    canvas = src.resize((width, height), Image.BILINEAR).filter(ImageFilter.GaussianBlur(height / 12))
    small = src.resize((face_px, face_px), Image.LANCZOS)
    yy, xx = np.mgrid[:face_px, :face_px] / (face_px - 1)
    edge = np.minimum.reduce([xx, 1 - xx, yy])  # the suit runs on past the bottom edge
    mask = Image.fromarray((np.clip(edge / 0.08, 0, 1) * 255).astype(np.uint8))
    canvas.paste(small, (int(0.3 * width), height - face_px), mask)
    canvas.save(out)
    return out
