"""Head pose of a face from mediapipe face-mesh landmarks, in the renderer's convention (pose.json channels).

A frame's rigid landmarks (the mesh without lips, mouth and eyes) are aligned to a reference frame's with a
similarity transform (rotation, scale, translation; Umeyama). The rotation is about the same neck pivot the
renderer uses (below the chin), so a turn of the head does not read as a sideways move. Landmarks are in
pixels, ``x`` right, ``y`` down and ``z`` toward the camera negative (mediapipe's), as ``(478, 3)`` arrays.
"""

from __future__ import annotations

import numpy as np

from .render.landmarks import CHEEK_L, CHEEK_R, CHIN, EYES, LOWER_INNER, UPPER_INNER, face_geometry

_LIPS = {0, 17, 13, 14, 37, 39, 40, 61, 84, 87, 91, 146, 178, 181, 185, 267, 269, 270, 291, 314, 317, 321, 375,
         405, 409}  # fmt: skip
_MOVING = set(UPPER_INNER + LOWER_INNER) | {i for eye in EYES for part in eye[2:] for i in part} | _LIPS
RIGID = np.array([i for i in range(468) if i not in _MOVING])  # landmarks that move only with the head


def rotation(ref: np.ndarray, cur: np.ndarray, idx: np.ndarray = RIGID) -> np.ndarray:
    """Rotation R (3x3) with R @ ref ≈ cur up to scale and translation; x right, y down, z toward the viewer."""
    a = ref[idx] * np.array([1, 1, -1])
    b = cur[idx] * np.array([1, 1, -1])
    a, b = a - a.mean(0), b - b.mean(0)
    u, _s, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1, 1, d]) @ vt


def angles(r: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll) degrees of R = Rz(roll) Ry(yaw) Rx(pitch), the renderer's convention."""
    yaw = np.arcsin(np.clip(-r[2, 0], -1, 1))
    pitch = np.arctan2(r[2, 1], r[2, 2])
    roll = np.arctan2(-r[1, 0], r[0, 0])
    return np.degrees([pitch, yaw, roll])


def pivot_of(ref: np.ndarray) -> tuple[np.ndarray, float]:
    """The renderer's pivot of a reference face (x, y down, z toward the viewer), and its face height in pixels.

    Below the chin and behind the cheeks, as engine.render.coarse rotates the portrait.
    """
    geo = face_geometry(ref)
    z_back = float(-ref[[CHEEK_L, CHEEK_R], 2].mean()) - 0.15 * geo.width
    return np.array([geo.center[0], ref[CHIN, 1] + 0.2 * geo.height, z_back]), float(geo.height)


def head_pose(ref: np.ndarray, cur: np.ndarray, idx: np.ndarray = RIGID) -> np.ndarray:
    """pose.json channels (pitch, yaw, roll, x, y, scale) of ``cur`` relative to ``ref``.

    x, y in face heights of the reference (y up), scale > 1 closer; the rotation is about the neck pivot.
    """
    r = rotation(ref, cur, idx)
    a = ref[idx] * np.array([1, 1, -1])
    b = cur[idx] * np.array([1, 1, -1])
    ac, bc = a - a.mean(0), b - b.mean(0)
    scale = float(np.sum((ac @ r.T) * bc) / max(np.sum(ac * ac), 1e-9))
    pivot, face_h = pivot_of(ref)
    moved = scale * (a - pivot) @ r.T + pivot  # where rotation and scale about the pivot put the points
    shift = (b - moved).mean(0)
    return np.array([*angles(r), shift[0] / face_h, -shift[1] / face_h, scale])
