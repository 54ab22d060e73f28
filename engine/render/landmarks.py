"""Face-mesh landmark indices and face measurements (centre, size, chin, features' local frames)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FOREHEAD, CHIN, NOSE_TIP, NOSE_BASE = 10, 152, 1, 2
CHEEK_L, CHEEK_R = 234, 454  # face contour at ear height, viewer's left / right
MOUTH_L, MOUTH_R = 61, 291  # outer lip corners
UPPER_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LOWER_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
UPPER_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]  # outer edge of the upper lip's red (vermilion)
LOWER_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
UPPER_OUTER_MID, LOWER_OUTER_MID = 0, 17
IRIS_L, IRIS_R = 468, 473  # iris centres (the refined mesh's 478 points)
# eyes as seen in the image: corner, corner, upper lid, lower lid (left to right)
EYES = (
    (33, 133, [246, 161, 160, 159, 158, 157, 173], [7, 163, 144, 145, 153, 154, 155]),
    (362, 263, [398, 384, 385, 386, 387, 388, 466], [382, 381, 380, 374, 373, 390, 249]),
)
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
             149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]  # fmt: skip


@dataclass
class FaceGeometry:
    """Measurements of one face in working pixels."""

    center: np.ndarray  # (2,) between the cheeks at eye height
    width: float  # cheek to cheek
    height: float  # forehead (hairline landmark) to chin
    chin: np.ndarray  # (2,)
    up: np.ndarray  # (2,) unit vector from chin to forehead
    ipd: float  # interpupillary distance (iris centre to iris centre): the face unit, 63 mm


def interpupillary(lm: np.ndarray) -> float:
    """Iris centre to iris centre in the landmarks' unit; from the eye corners' midpoints when the mesh has no irises
    (the pupils sit close to the middle of the eye opening)."""
    xy = lm[:, :2].astype(np.float64)
    if len(xy) > IRIS_R:
        return float(np.linalg.norm(xy[IRIS_R] - xy[IRIS_L]))
    (a0, a1, *_), (b0, b1, *_) = EYES
    return float(np.linalg.norm((xy[b0] + xy[b1]) / 2 - (xy[a0] + xy[a1]) / 2))


def face_geometry(lm: np.ndarray) -> FaceGeometry:
    xy = lm[:, :2].astype(np.float64)
    up = xy[FOREHEAD] - xy[CHIN]
    height = float(np.linalg.norm(up))
    return FaceGeometry(
        center=(xy[CHEEK_L] + xy[CHEEK_R]) / 2,
        width=float(np.linalg.norm(xy[CHEEK_R] - xy[CHEEK_L])),
        height=height,
        chin=xy[CHIN],
        up=up / max(height, 1e-6),
        ipd=interpupillary(lm),
    )


@dataclass
class LocalFrame:
    """A 2-D frame on a feature: origin, unit axis ``eu`` (left→right corner) and ``ev`` (down the face)."""

    origin: np.ndarray
    eu: np.ndarray
    ev: np.ndarray

    def to_local(self, pts: np.ndarray) -> np.ndarray:
        d = pts[..., :2] - self.origin
        return np.stack([d @ self.eu, d @ self.ev], axis=-1)


def local_frame(a: np.ndarray, b: np.ndarray) -> LocalFrame:
    eu = (b - a) / max(float(np.linalg.norm(b - a)), 1e-6)
    return LocalFrame(origin=(a + b) / 2, eu=eu, ev=np.array([-eu[1], eu[0]]))


def curve_table(uv: np.ndarray, u_grid: np.ndarray) -> np.ndarray:
    """The curve through points ``uv`` (sorted by u) evaluated at ``u_grid`` (held constant beyond the ends)."""
    order = np.argsort(uv[:, 0])
    return np.interp(u_grid, uv[order, 0], uv[order, 1])
