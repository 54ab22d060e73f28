"""Mouth and eyelids from face-mesh landmarks: per-frame measurements, then the lips.json channels.

Each frame's landmarks are first moved back into the reference face's space (the head's rotation, scale and
position undone, engine.headpose), so turning or nodding does not read as opening or closing. Measured there:

- the lip gap: the inner lips' vertical distance at the middle of the mouth, in face heights;
- the mouth width: the outer corners' distance, compared with the clip's rest width (lips closed);
- the eye opening: lid distance over eye width for each eye (the eye aspect ratio of Soukupová and Čech,
  "Real-Time Eye Blink Detection using Facial Landmarks", 2016), averaged over both eyes, compared with its
  usual value over the second around the frame.

Channels are calibrated to the ranges ``engine lips`` writes and the renderer draws (``scripts/eval_capture.py``
measures both on the same speech video): ``mouth_open`` 1 is the renderer's widest jaw drop, a closed mouth reads
``lips_closed`` 1, the rest width reads as the rest viseme's ``mouth_wide``, and ``blink`` runs from 0 (the usual
eye opening) to 1 (lids together).

Captured for a portrait (``capture --image``), the mouth is read in that portrait's terms, as the pose is: a portrait
whose lips are parted at rest (a smile showing its teeth) already shows that gap with every channel at 0, and the
renderer adds only a share of the speech's opening to it (engine.mouth_calibration.parted_opening). So a lip gap up
to the portrait's own reads as its lips pressed by ``lips_closed`` (the renderer closes the rest gap by that share),
and only the gap beyond it opens the jaw, scaled by the inverse of that share: the portrait, rendered with the
captured channels, parts its lips as far as the video's face did.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from .headpose import Similarity, head_space
from .ipa import REST
from .lips import CHANNELS as MOUTH_CHANNELS
from .mouth_calibration import APERTURE_MM_PER_UNIT, parted_opening
from .render.blinks import BLINK_CHANNEL
from .render.landmarks import EYES, MOUTH_L, MOUTH_R, FaceGeometry

CHANNELS = [*MOUTH_CHANNELS, BLINK_CHANNEL]
FEATURES = ("lip_gap", "mouth_width", "eye_open")

_LIP_PAIRS = ((82, 87), (13, 14), (312, 317))  # upper / lower inner lip at the middle of the mouth
_EYE_PAIRS = tuple(tuple(zip(upper[2:5], lower[2:5])) for _c0, _c1, upper, lower in EYES)  # middle of each lid

# calibration: scripts/eval_capture.py ("calibration") renders a still head speaking with engine lips and fits these
OPEN_GAP = 0.22  # lip gap (face heights) at mouth_open = 1
CLOSED_GAP = 0.005  # lip gaps below this are lips together (the mesh never lays the inner lips exactly on each other)
TOUCH_GAP = 0.03  # lips_closed falls from 1 to 0 between CLOSED_GAP and this gap
WIDE_SPREAD = 0.07  # relative widening of the mouth at mouth_wide = 1
ROUND_SPREAD = 0.14  # relative narrowing at mouth_round = 1
OPEN_WIDTH = 0.13  # relative widening that comes with mouth_open = 1 (the jaw pulls the corners apart)
CLOSED_EYE = 0.35  # eye opening with the lids together, as a share of the usual opening (glasses hide some)
EYE_WINDOW_S = 1.0  # the usual eye opening is the median over this long
REST_WIDE = REST.wide  # a mouth at rest is engine lips' rest shape


def measure(landmarks: np.ndarray, sim: Similarity, geo: FaceGeometry) -> np.ndarray:
    """The FEATURES of one frame from its landmarks (478, 3), its similarity to the reference face and the
    reference face's geometry (engine.render.landmarks.face_geometry)."""
    pts = sim.invert(head_space(landmarks))  # in the reference face's space
    down = -np.array([geo.up[0], geo.up[1], 0.0])
    gap = float(np.mean([(pts[lo] - pts[up]) @ down for up, lo in _LIP_PAIRS])) / geo.height
    width = float(np.linalg.norm(pts[MOUTH_R] - pts[MOUTH_L])) / geo.height
    eyes = []
    for (c0, c1, _upper, _lower), pairs in zip(EYES, _EYE_PAIRS):
        span = float(np.linalg.norm(pts[c1, :2] - pts[c0, :2]))
        eyes.append(np.mean([(pts[lo] - pts[up]) @ down for up, lo in pairs]) / max(span, 1e-6))
    return np.array([gap, width, float(np.mean(eyes))])


def rest_width(features: np.ndarray) -> float:
    """The mouth's width at rest: the median over frames with the lips together (over all frames if too few)."""
    gap, width = features[:, 0], features[:, 1]
    ok = np.isfinite(width)
    closed = ok & (gap < TOUCH_GAP)
    pool = width[closed] if closed.sum() >= 5 else width[ok]
    return float(np.median(pool)) if pool.size else float("nan")


def usual_eye_opening(features: np.ndarray, fps: float) -> np.ndarray:
    """Each frame's usual eye opening: the median over the second around it (eyes are open far more often than
    shut, and the measured opening drifts a little as the head turns and nods)."""
    eye = np.asarray(features[:, 2], dtype=np.float64)
    ok = np.isfinite(eye)
    if not ok.any():
        return np.full(len(eye), np.nan)
    t = np.arange(len(eye))
    filled = np.interp(t, t[ok], eye[ok])
    return median_filter(filled, size=max(3, int(round(EYE_WINDOW_S * fps)) | 1), mode="nearest")


def channels(features: np.ndarray, width_rest: float, eye_open: np.ndarray, rest_gap: float = 0.0) -> np.ndarray:
    """(n, 5) mouth_open, mouth_wide, mouth_round, lips_closed, blink from (n, 3) FEATURES.

    ``rest_gap``: the lip gap (face heights, as measured) of the portrait the channels are for, at rest; 0 for the
    video's own face (lips together at rest). See the module's docstring."""
    gap, width, eye = features[:, 0], features[:, 1], features[:, 2]
    out = np.empty((len(features), len(CHANNELS)))
    if rest_gap > TOUCH_GAP:  # a portrait with lips parted at rest: its own gap is where the channels start
        rest_mm = (rest_gap - CLOSED_GAP) / OPEN_GAP * APERTURE_MM_PER_UNIT
        out[:, 0] = np.clip((gap - rest_gap) / parted_opening(OPEN_GAP, rest_mm), 0.0, 1.0)
        out[:, 3] = np.clip((rest_gap - gap) / (rest_gap - CLOSED_GAP), 0.0, 1.0)
    else:
        out[:, 0] = np.clip((gap - CLOSED_GAP) / OPEN_GAP, 0.0, 1.0)
        out[:, 3] = np.clip((TOUCH_GAP - gap) / (TOUCH_GAP - CLOSED_GAP), 0.0, 1.0)
    spread = REST_WIDE * WIDE_SPREAD + (width / width_rest - 1.0) - OPEN_WIDTH * out[:, 0]  # rest shape included
    out[:, 1] = np.clip(spread / WIDE_SPREAD, 0.0, 1.0)
    out[:, 2] = np.clip(-spread / ROUND_SPREAD, 0.0, 1.0)
    out[:, 4] = np.clip((1.0 - eye / eye_open) / (1.0 - CLOSED_EYE), 0.0, 1.0)
    return out
