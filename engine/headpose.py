"""Head pose of a face from mediapipe face-mesh landmarks, in the renderer's convention (pose.json channels).

A frame's rigid landmarks (the mesh without lips, mouth and eyes) are aligned to a reference frame's with a
similarity transform (rotation, scale, translation; Umeyama 1991). The rotation is about the same neck pivot the
renderer uses (below the chin), so a turn of the head does not read as a sideways move. Landmarks are in
pixels, ``x`` right, ``y`` down and ``z`` toward the camera negative (mediapipe's), as ``(478, 3)`` arrays.
Similarities are kept in "head space" (x right, y down, z toward the viewer), where they compose: a video is
measured once against its first face and re-based on any other frame afterwards (:func:`relative`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .render.landmarks import CHEEK_L, CHEEK_R, CHIN, EYES, LOWER_INNER, UPPER_INNER, face_geometry

_LIPS = {0, 17, 13, 14, 37, 39, 40, 61, 84, 87, 91, 146, 178, 181, 185, 267, 269, 270, 291, 314, 317, 321, 375,
         405, 409}  # fmt: skip
_MOVING = set(UPPER_INNER + LOWER_INNER) | {i for eye in EYES for part in eye[2:] for i in part} | _LIPS
RIGID = np.array([i for i in range(468) if i not in _MOVING])  # landmarks that move only with the head
_FLIP = np.array([1.0, 1.0, -1.0])  # mediapipe's z (negative toward the camera) → toward the viewer


def above_mouth(ref: np.ndarray, idx: np.ndarray = RIGID) -> np.ndarray:
    """The landmarks of ``idx`` above the mouth of face ``ref``: the part of the face that stays rigid in speech.

    Talking moves the jaw, and the mesh's chin and jaw line go with it; a head pose measured from them nods
    with every open vowel.
    """
    geo = face_geometry(ref)
    height = (ref[idx, :2] - geo.chin) @ geo.up
    return idx[height > float((ref[UPPER_INNER[5], :2] - geo.chin) @ geo.up)]


def head_space(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks (…, 3) with z turned toward the viewer (x right, y down): the space similarities live in."""
    return np.asarray(landmarks, dtype=np.float64) * _FLIP


@dataclass(frozen=True)
class Similarity:
    """``b ≈ scale · rotation @ a + translation`` for head-space points ``a`` of a reference and ``b`` of a frame."""

    rotation: np.ndarray  # (3, 3)
    scale: float
    translation: np.ndarray  # (3,)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Head-space points of the reference → where this transform puts them."""
        return self.scale * points @ self.rotation.T + self.translation

    def invert(self, points: np.ndarray) -> np.ndarray:
        """Head-space points of the frame → the reference's space (the head's own motion undone)."""
        return (points - self.translation) @ self.rotation / self.scale

    def as_array(self) -> np.ndarray:
        """13 numbers: rotation (row-major), scale, translation (compact per-frame storage)."""
        return np.concatenate([self.rotation.ravel(), [self.scale], self.translation])

    @classmethod
    def from_array(cls, values: np.ndarray) -> Similarity:
        v = np.asarray(values, dtype=np.float64)
        return cls(v[:9].reshape(3, 3), float(v[9]), v[10:13].copy())


IDENTITY = Similarity(np.eye(3), 1.0, np.zeros(3))


def fit(ref: np.ndarray, cur: np.ndarray, idx: np.ndarray = RIGID) -> Similarity:
    """The similarity taking ``ref``'s rigid landmarks onto ``cur``'s (least squares, proper rotation)."""
    a, b = head_space(ref[idx]), head_space(cur[idx])
    ma, mb = a.mean(0), b.mean(0)
    ac, bc = a - ma, b - mb
    u, _s, vt = np.linalg.svd(bc.T @ ac)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1.0, 1.0, d]) @ vt
    scale = float(np.sum((ac @ r.T) * bc) / max(np.sum(ac * ac), 1e-9))
    return Similarity(r, scale, mb - scale * ma @ r.T)


def relative(base: Similarity, cur: Similarity) -> Similarity:
    """Given both measured against one reference, the similarity taking frame ``base`` onto frame ``cur``."""
    s = cur.scale / base.scale
    r = cur.rotation @ base.rotation.T
    return Similarity(r, s, cur.translation - s * base.translation @ r.T)


def rotation(ref: np.ndarray, cur: np.ndarray, idx: np.ndarray = RIGID) -> np.ndarray:
    """Rotation R (3x3) with R @ ref ≈ cur up to scale and translation; x right, y down, z toward the viewer."""
    return fit(ref, cur, idx).rotation


def rotation_of(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """R = Rz(roll) Ry(yaw) Rx(pitch) for angles in degrees, the renderer's convention (inverse of :func:`angles`)."""
    p, y, r = np.radians([pitch, yaw, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), np.sin(r), 0], [-np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


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


def pose_channels(sim: Similarity, ref: np.ndarray) -> np.ndarray:
    """pose.json channels (pitch, yaw, roll, x, y, scale) of the similarity ``sim`` of reference ``ref``.

    The rotation and scale act about ``ref``'s neck pivot; x, y in face heights of ``ref`` (y up).
    """
    pivot, face_h = pivot_of(ref)
    shift = sim.apply(pivot) - pivot  # where the pivot goes
    return np.array([*angles(sim.rotation), shift[0] / face_h, -shift[1] / face_h, sim.scale])


def head_pose(ref: np.ndarray, cur: np.ndarray, idx: np.ndarray = RIGID) -> np.ndarray:
    """pose.json channels (pitch, yaw, roll, x, y, scale) of ``cur`` relative to ``ref``.

    x, y in face heights of the reference (y up), scale > 1 closer; the rotation is about the neck pivot.
    """
    return pose_channels(fit(ref, cur, idx), ref)
