"""Write ``examples/portrait.png``: a head-and-shoulders crop of scikit-image's public-domain astronaut photo.

Usage: ``python scripts/make_portrait.py [astronaut.png]``. Without an argument it uses
``skimage.data.astronaut()`` (scikit-image must be installed); the committed PNG makes this a one-off.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CROP = (56, 0, 416, 360)  # left, top, right, bottom in the 512x512 original: head, hair, shoulders


def astronaut(path: str | None) -> np.ndarray:
    if path:
        return np.asarray(Image.open(path).convert("RGB"))
    from skimage import data  # noqa: PLC0415 (optional dependency)

    return data.astronaut()


def main() -> None:
    image = Image.fromarray(astronaut(sys.argv[1] if len(sys.argv) > 1 else None)).crop(CROP)
    out = ROOT / "examples" / "portrait.png"
    image.save(out, optimize=True)
    print(out)


if __name__ == "__main__":
    main()
