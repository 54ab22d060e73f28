"""The yaw's depth gain of one portrait, calibrated so that the face mesh reads back the yaw the warp was given.

The warp (engine.render.coarse) turns the portrait about a neck pivot with the face mesh's own depth. That depth is
flatter across the face than up and down it, and by how much depends on the face and the photo (measured: a yaw
of 20° read back as 17-19° on one portrait, 13-18° on another, with the pitch's gain on both). So each portrait
gets its own gain: the portrait is turned by ±``TURN_DEG`` and measured again with the face mesh
(engine.headpose, as ``capture`` measures a video), and the gain is scaled by the reading's shortfall, twice at
most. Angles in pose.json, in generated motion and in captured video then mean the same turn of the head.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from .. import native
from .face import face_mesh, faces_of
from .landmarks import face_geometry

TURN_DEG = 12.0  # the test turn each way
CROP_FACES = 2.2  # the detector sees a square this many face heights wide around the face ...
CROP_SIDE = 320  # ... at this many pixels
GAIN_RANGE = (1.0, 2.0)  # a reading outside this range is a failed measurement: the default is kept
TOLERANCE = 0.03  # a reading this close to the turn asked for ends the calibration


def calibrate(
    warp: Callable[[float, float], np.ndarray], landmarks: np.ndarray, default: float, steps: int = 2
) -> float:
    """The yaw's depth gain: ``warp(yaw_deg, gain)`` gives the portrait (uint8 H, W, 3) turned by ``yaw_deg`` with
    depth gain ``gain``; ``landmarks`` (478, 3) are the portrait's, in the same pixels. ``default`` when the face
    mesh cannot measure the turned portrait."""
    from ..headpose import head_pose  # noqa: PLC0415  (headpose imports this package's landmarks)

    geo = face_geometry(landmarks)
    side = CROP_FACES * geo.height
    x0, y0 = geo.center - side / 2
    box = (int(round(x0)), int(round(y0)), int(round(x0 + side)), int(round(y0 + side)))
    gain = default
    with face_mesh(static=True) as mesh:

        def read(frame: np.ndarray) -> np.ndarray | None:
            crop = Image.fromarray(frame[..., :3]).crop(box).resize((CROP_SIDE, CROP_SIDE), Image.BILINEAR)
            with native.quiet_stderr():
                faces = faces_of(mesh.process(np.asarray(crop)), (CROP_SIDE, CROP_SIDE))
            return faces[0] if len(faces) == 1 else None

        ref = read(warp(0.0, gain))
        if ref is None:
            return default
        for _ in range(steps):
            turned = [read(warp(s * TURN_DEG, gain)) for s in (-1.0, 1.0)]
            if any(t is None for t in turned):
                return default
            yaws = [float(head_pose(ref, t)[1]) for t in turned]
            reading = (yaws[1] - yaws[0]) / (2.0 * TURN_DEG)
            if not 0.3 < reading < 3.0:
                return default
            if abs(reading - 1.0) <= TOLERANCE:
                break
            gain = float(np.clip(gain / reading, *GAIN_RANGE))
    return gain
