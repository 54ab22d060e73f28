"""CoarseNet: the 2.5-D pose warp of the portrait.

Every pixel gets a depth (face-mesh depth on the face, a head ellipsoid on hair, flat elsewhere) and a rigidity
weight (1 on face and hair, partial on neck and shoulders, 0 on the background, smooth in between so nothing
tears). A pose moves each pixel rigidly about a neck pivot (orthographic, so depth gives parallax), scaled by its
weight. The forward displacement is evaluated on a coarse grid, inverted with fixed-point iterations
(``src = p - D(src)``), upsampled to a dense flow and applied with one ``grid_sample``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy.interpolate import LinearNDInterpolator
from scipy.ndimage import distance_transform_edt, gaussian_filter, grey_dilation

from .face import Portrait
from .landmarks import CHEEK_L, CHEEK_R, CHIN, FACE_OVAL, face_geometry
from .turns import IDENTITY_TURNS, TurnMap

NECK_WEIGHT = 0.35  # share of the head motion the neck follows
SHOULDER_WEIGHT = 0.1  # ... and the shoulders
DAMPING = 0.6  # fixed-point step of the flow inversion
DEPTH_GAIN = 1.2  # mesh depth is a little flat; what the face mesh reads of the turns is measured per portrait (turns)


def _ellipse_r2(xx: np.ndarray, yy: np.ndarray, c: np.ndarray, ax: float, ay: float) -> np.ndarray:
    return ((xx - c[0]) / ax) ** 2 + ((yy - c[1]) / ay) ** 2


def build_maps(portrait: Portrait, max_side: int = 256) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Depth (toward the viewer, relative to the pivot) and rigidity maps at a reduced size, plus the pivot."""
    w_img, h_img = portrait.size
    scale = min(1.0, max_side / max(w_img, h_img))
    gw, gh = max(8, int(round(w_img * scale))), max(8, int(round(h_img * scale)))
    lm = portrait.landmarks.astype(np.float64)
    geo = face_geometry(lm)
    xs = (np.arange(gw) + 0.5) / gw * w_img - 0.5
    ys = (np.arange(gh) + 0.5) / gh * h_img - 0.5
    xx, yy = np.meshgrid(xs, ys)
    toward = -lm[:, 2]  # mediapipe z is negative toward the camera
    z_back = float(toward[[CHEEK_L, CHEEK_R]].mean()) - 0.15 * geo.width  # rotation axis behind the cheeks
    depth_lm = toward - z_back
    # face: the mesh's depth; outside it the nearest face depth falls off like a sphere (hair, skull, ears)
    inside = LinearNDInterpolator(lm[:, :2], depth_lm)(xx, yy)
    face = np.isfinite(inside)
    dist, (iy, ix) = distance_transform_edt(~face, return_indices=True)
    radius = 0.45 * geo.width * scale  # in map pixels
    depth = np.where(face, inside, inside[iy, ix] * np.sqrt(np.clip(1.0 - (dist / radius) ** 2, 0.0, 1.0)))
    depth = gaussian_filter(np.nan_to_num(depth), sigma=max(0.8, 0.035 * geo.width * scale))
    head_c = geo.center + geo.up * 0.12 * geo.height
    r2 = _ellipse_r2(xx, yy, head_c, 0.75 * geo.width, 0.72 * geo.height)

    # rigidity: person mask with a vertical profile below the chin, the face oval always rigid
    person = np.asarray(
        F.interpolate(torch.from_numpy(portrait.person)[None, None], size=(gh, gw), mode="area")[0, 0]
    ).astype(np.float64)
    below = ((xx - geo.chin[0]) * -geo.up[0] + (yy - geo.chin[1]) * -geo.up[1]) / geo.height  # face heights
    prof = np.interp(below, [0.05, 0.45, 1.2], [1.0, NECK_WEIGHT, SHOULDER_WEIGHT])
    head = np.clip((1.15 - r2) / 0.3, 0.0, 1.0) * (below < 0.1)
    oval = np.zeros((gh, gw), np.uint8)
    poly = ((lm[FACE_OVAL, :2] + 0.5) * np.array([gw / w_img, gh / h_img]) - 0.5) * 16
    cv2.fillPoly(oval, [np.round(poly).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    weight = np.maximum(np.maximum(person * prof, head), oval.astype(np.float64))
    sigma = max(1.0, 0.1 * geo.height * scale)  # wide enough that the warp never folds: no tearing
    weight = gaussian_filter(grey_dilation(weight, size=int(2 * sigma) | 1), sigma=sigma)
    soft_oval = np.clip(2.0 * gaussian_filter(oval.astype(np.float64), sigma=max(1.0, 0.04 * geo.height * scale)), 0, 1)
    weight = np.maximum(weight, soft_oval)  # the whole face moves rigidly, its edge blends smoothly
    pivot = {
        "x": float(geo.center[0]),
        "y": float(lm[CHIN, 1] + 0.2 * geo.height),
        "face_h": geo.height,
    }
    return depth.astype(np.float32), weight.astype(np.float32), pivot


def _pix_to_norm(p: torch.Tensor, w: int, h: int) -> torch.Tensor:
    """Pixel coordinates (centres at integers) → grid_sample coordinates (align_corners=False)."""
    size = torch.tensor([w, h], dtype=p.dtype, device=p.device)
    return (2.0 * p + 1.0) / size - 1.0


class CoarseWarp:
    """Pose warp of one portrait on one device."""

    def __init__(self, portrait: Portrait, device: torch.device, grid: int = 96, iterations: int = 6) -> None:
        self.device = device
        self.w, self.h = portrait.size
        depth, weight, pivot = build_maps(portrait)
        self.maps = torch.from_numpy(np.stack([depth, weight]))[None].to(device)  # (1, 2, mh, mw)
        self.pivot = pivot
        self.turns: TurnMap = IDENTITY_TURNS  # the portrait's own (engine.render.turns), set by the renderer
        self.iterations = iterations
        s = grid / max(self.w, self.h)
        self.gw, self.gh = max(8, int(round(self.w * s))), max(8, int(round(self.h * s)))
        gx = torch.linspace(0, self.w - 1, self.gw, device=device)
        gy = torch.linspace(0, self.h - 1, self.gh, device=device)
        yy, xx = torch.meshgrid(gy, gx, indexing="ij")
        self.q = torch.stack([xx, yy], dim=-1)  # (gh, gw, 2) pixel coords of the coarse grid

    def displacement(self, src: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """Forward displacement (B, gh, gw, 2) of source points ``src`` (B, gh, gw, 2) under ``pose`` (B, 6)."""
        b = src.shape[0]
        dw = F.grid_sample(
            self.maps.expand(b, -1, -1, -1), _pix_to_norm(src, self.w, self.h), align_corners=False,
            padding_mode="border",
        )  # fmt: skip
        z, wgt = dw[:, 0] * DEPTH_GAIN, dw[:, 1]
        rad = pose[:, :3] * (math.pi / 180.0)
        cp, sp = torch.cos(rad[:, 0]).view(b, 1, 1), torch.sin(rad[:, 0]).view(b, 1, 1)
        cy, sy = torch.cos(rad[:, 1]).view(b, 1, 1), torch.sin(rad[:, 1]).view(b, 1, 1)
        cr, sr = torch.cos(rad[:, 2]).view(b, 1, 1), torch.sin(rad[:, 2]).view(b, 1, 1)
        x = src[..., 0] - self.pivot["x"]
        y = src[..., 1] - self.pivot["y"]
        y1 = y * cp - z * sp  # pitch > 0: the face turns up
        z1 = y * sp + z * cp
        x2 = x * cy + z1 * sy  # yaw > 0: the face turns to the viewer's right
        x3 = x2 * cr + y1 * sr  # roll > 0: counter-clockwise on screen
        y3 = -x2 * sr + y1 * cr
        s = pose[:, 5].view(b, 1, 1)
        fh = self.pivot["face_h"]
        dx = s * x3 + pose[:, 3].view(b, 1, 1) * fh - x
        dy = s * y3 - pose[:, 4].view(b, 1, 1) * fh - y
        return torch.stack([dx, dy], dim=-1) * wgt.unsqueeze(-1)

    def grid(self, pose: torch.Tensor) -> torch.Tensor:
        """Dense sampling grid (B, H, W, 2) for ``grid_sample``: where each output pixel comes from."""
        b = pose.shape[0]
        pose = self.turns.warp_pose(pose)
        q = self.q.expand(b, -1, -1, -1)
        src = q.clone()
        for _ in range(self.iterations):  # damped: converges even where the warp stretches steeply
            src = src + DAMPING * (q - self.displacement(src, pose) - src)
        norm = _pix_to_norm(src, self.w, self.h).permute(0, 3, 1, 2)  # (B, 2, gh, gw)
        dense = F.interpolate(norm, size=(self.h, self.w), mode="bilinear", align_corners=True)
        return dense.permute(0, 2, 3, 1)

    def warp(self, images: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """Warp ``images`` (B, C, H, W) by ``pose`` (B, 6); areas from outside the image repeat its edge."""
        return F.grid_sample(images, self.grid(pose), mode="bilinear", padding_mode="border", align_corners=False)
