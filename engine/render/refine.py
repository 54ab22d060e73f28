"""RefineNet: the mouth and the eyelids at full resolution, in the portrait's own frame.

Each feature lives in a local frame (u along the corners, v down the face). A frame's mouth channels become a
backward map per pixel, built in closed form: the lips are pressed together (``lips_closed``), the jaw drops
(``mouth_open``: lower lip, chin and jaw skin move down, the upper lip lifts a little), the corners spread or
purse (``mouth_wide`` / ``mouth_round``). Where the lips part, a mouth interior is painted: dark cavity, upper
teeth band, a hint of lower teeth and tongue. Blinks lower the upper lid over the eye with a lash line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .face import Portrait
from .landmarks import (
    CHIN,
    EYES,
    LOWER_INNER,
    LOWER_OUTER_MID,
    MOUTH_L,
    MOUTH_R,
    NOSE_BASE,
    UPPER_INNER,
    LocalFrame,
    curve_table,
    face_geometry,
    local_frame,
)

TABLE = 97  # samples of the per-u curves
OPEN_MAX = 0.17  # jaw drop at mouth_open = 1, in face heights
LIFT_MAX = 0.03  # upper-lip lift at mouth_open = 1
TOOTH_H = 0.045  # visible upper-teeth band, face heights
CAVITY = (0.16, 0.045, 0.05)
TEETH = (0.9, 0.87, 0.8)
TONGUE = (0.74, 0.36, 0.36)


def _smooth(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass
class _Crop:
    x0: int
    y0: int
    x1: int
    y1: int
    u: torch.Tensor  # (hc, wc) local coordinates of the crop pixels
    v: torch.Tensor
    frame: LocalFrame
    u0: float
    du: float
    tables: dict[str, torch.Tensor]

    def lookup(self, names: str, u: torch.Tensor) -> list[torch.Tensor]:
        """The curves ``names`` (space separated) at ``u``, linearly interpolated, with one shared index."""
        keys = names.split()
        table = torch.stack([self.tables[k] for k in keys])  # (k, TABLE)
        idx = ((u - self.u0) / self.du).clamp(0.0, TABLE - 1.0)
        i0 = idx.floor().long().clamp(max=TABLE - 2)
        frac = idx - i0
        lo, hi = table[:, i0], table[:, i0 + 1]
        vals = lo + (hi - lo) * frac
        return list(vals.unbind(0))

    def to_pixels(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        o, eu, ev = self.frame.origin, self.frame.eu, self.frame.ev
        return torch.stack([o[0] + u * eu[0] + v * ev[0], o[1] + u * eu[1] + v * ev[1]], dim=-1)


def _make_crop(
    frame: LocalFrame,
    extent: tuple[float, float, float, float],
    size: tuple[int, int],
    tables: dict[str, np.ndarray],
    u_range: tuple[float, float],
    device: torch.device,
) -> _Crop:
    """A crop covering the local box ``extent`` = (u_min, u_max, v_min, v_max), with its pixels' local coords."""
    umin, umax, vmin, vmax = extent
    corners = np.array([[u, v] for u in (umin, umax) for v in (vmin, vmax)])
    pts = frame.origin + corners[:, :1] * frame.eu + corners[:, 1:] * frame.ev
    w, h = size
    x0, y0 = max(0, int(np.floor(pts[:, 0].min()))), max(0, int(np.floor(pts[:, 1].min())))
    x1, y1 = min(w, int(np.ceil(pts[:, 0].max())) + 1), min(h, int(np.ceil(pts[:, 1].max())) + 1)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    local = frame.to_local(np.stack([xx, yy], -1))
    u0, u1 = u_range
    return _Crop(
        x0, y0, x1, y1,
        u=torch.tensor(local[..., 0], dtype=torch.float32, device=device),
        v=torch.tensor(local[..., 1], dtype=torch.float32, device=device),
        frame=frame, u0=u0, du=(u1 - u0) / (TABLE - 1),
        tables={k: torch.tensor(t, dtype=torch.float32, device=device) for k, t in tables.items()},
    )  # fmt: skip


def _sample(images: torch.Tensor, pix: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``images`` (B, C, H, W) at pixel coordinates ``pix`` (B, h, w, 2)."""
    _, _, h, w = images.shape
    size = torch.tensor([w, h], dtype=pix.dtype, device=pix.device)
    return F.grid_sample(images, (2.0 * pix + 1.0) / size - 1.0, mode="bilinear", padding_mode="border",
                         align_corners=False)  # fmt: skip


class Refiner:
    """Mouth and eyelid synthesis for one portrait on one device."""

    def __init__(self, portrait: Portrait, device: torch.device) -> None:
        self.device = device
        lm = portrait.landmarks[:, :2].astype(np.float64)
        geo = face_geometry(portrait.landmarks)
        self.fh, self.fw = geo.height, geo.width
        size = portrait.size
        # skin brightness sets the interior's brightness
        rgb = portrait.image[..., :3]
        xs = np.clip(lm[:, 0].round().astype(int), 0, size[0] - 1)
        ys = np.clip(lm[:, 1].round().astype(int), 0, size[1] - 1)
        self.lum = float(np.clip(np.median(rgb[ys, xs].mean(-1)) / 0.6, 0.5, 1.4))
        self.mouth = self._mouth_crop(lm, size)
        self.eyes = [self._eye_crop(lm, size, eye) for eye in EYES]

    # ----- set-up -----
    def _mouth_crop(self, lm: np.ndarray, size: tuple[int, int]) -> _Crop:
        fh, fw = self.fh, self.fw
        frame = local_frame(lm[MOUTH_L], lm[MOUTH_R])
        up = frame.to_local(lm[UPPER_INNER])
        low = frame.to_local(lm[LOWER_INNER])
        hw = float(np.linalg.norm(lm[MOUTH_R] - lm[MOUTH_L])) / 2
        u_range = (-0.9 * fw, 0.9 * fw)
        ug = np.linspace(*u_range, TABLE)
        seam = curve_table(low, ug)  # lower inner lip edge: the jaw's side of the split
        gap = np.maximum(seam - curve_table(up, ug), 0.0)
        inner = float(np.abs(low[:, 0]).max())
        gap[np.abs(ug) > inner] = 0.0
        lens = np.clip(1.0 - (ug / hw) ** 2, 0.0, 1.0) ** 0.6
        broad = np.clip((0.7 * fw - np.abs(ug)) / (0.28 * fw), 0.0, 1.0)
        teeth = np.clip(1.0 - (ug / (0.85 * inner)) ** 4, 0.0, 1.0)
        seam0 = float(np.interp(0.0, ug, seam))
        loc = frame.to_local(lm[[NOSE_BASE, CHIN, LOWER_OUTER_MID]])
        self.m = {
            "hw": hw,
            "inner": inner,
            "v_nose": max(2.0, seam0 - loc[0, 1]),
            "v_chin": max(4.0, loc[1, 1] - seam0),
            "lip_low": max(2.0, loc[2, 1] - seam0),
            "band": 0.05 * fh,
        }
        self.m["v_end"] = self.m["v_chin"] + 0.3 * fh
        extent = (-0.75 * fw, 0.75 * fw, seam0 - self.m["v_nose"] - 2, seam0 + self.m["v_end"] + OPEN_MAX * fh + 2)
        tables = {"seam": seam, "gap": gap, "lens": lens, "broad": broad, "teeth": teeth}
        return _make_crop(frame, extent, size, tables, u_range, self.device)

    def _eye_crop(self, lm: np.ndarray, size: tuple[int, int], eye: tuple) -> _Crop:
        c0, c1, upper, lower = eye
        frame = local_frame(lm[c0], lm[c1])
        hw = float(np.linalg.norm(lm[c1] - lm[c0])) / 2
        u_range = (-1.6 * hw, 1.6 * hw)
        ug = np.linspace(*u_range, TABLE)
        ends = frame.to_local(lm[[c0, c1]])
        up = curve_table(np.vstack([ends, frame.to_local(lm[upper])]), ug)
        low = curve_table(np.vstack([ends, frame.to_local(lm[lower])]), ug)
        gap = np.maximum(low - up, 0.0)
        gap[np.abs(ug) > hw] = 0.0
        inside = np.clip((hw - np.abs(ug)) / (0.25 * hw), 0.0, 1.0)
        tables = {"up": up, "gap": gap, "inside": inside}
        top = float(up.min()) - 1.2 * hw
        extent = (-1.3 * hw, 1.3 * hw, top, float(low.max()) + 2)
        crop = _make_crop(frame, extent, size, tables, u_range, self.device)
        crop.tables["band"] = torch.tensor(1.1 * hw, device=self.device)
        return crop

    # ----- per frame -----
    def apply(self, images: torch.Tensor, mouth: torch.Tensor, blink: torch.Tensor) -> torch.Tensor:
        """Edit ``images`` (B, C, H, W) in place and return it. ``mouth`` (B, 4): open, wide, round, closed;
        ``blink`` (B,): eyelid closure 0..1."""
        if bool((blink > 1e-3).any()):
            for crop in self.eyes:
                self._blink(images, crop, blink)
        if bool((mouth.abs() > 1e-3).any()):
            self._mouth(images, mouth)
        return images

    def _paste(self, images: torch.Tensor, crop: _Crop, patch: torch.Tensor) -> None:
        images[:, :, crop.y0 : crop.y1, crop.x0 : crop.x1] = patch

    def _blink(self, images: torch.Tensor, crop: _Crop, blink: torch.Tensor) -> None:
        b = blink.view(-1, 1, 1)
        u, v = crop.u.unsqueeze(0), crop.v.unsqueeze(0)
        up, gap, inside = crop.lookup("up gap inside", u)
        band = crop.tables["band"]
        lid = up + 0.97 * b * gap  # where the upper lid edge is now
        top = up - band
        src_end = up - 0.6 * (b * gap).clamp(max=1.0)
        stretch = (v >= top) & (v < lid)
        v_src = torch.where(stretch, top + (v - top) * (src_end - top) / (lid - top).clamp(min=1e-3), v)
        patch = _sample(images, crop.to_pixels(u.expand_as(v_src), v_src))
        # lash line along the moving lid edge, and a little shade on the lowered lid
        lash = (1.0 - (v - lid).abs() / 1.6).clamp(min=0.0) * inside * (b * 1.5).clamp(max=1.0) * 0.65
        shade = ((v < lid) & (v > up)).float() * inside * 0.12 * b
        dark = (lash + shade).clamp(max=0.9).unsqueeze(1)
        rgb = patch[:, :3] * (1.0 - dark) + 0.06 * dark
        self._paste(images, crop, torch.cat([rgb, patch[:, 3:]], dim=1))

    def _mouth(self, images: torch.Tensor, mouth: torch.Tensor) -> None:
        crop, m, fh = self.mouth, self.m, self.fh
        bsz = mouth.shape[0]
        m_open, m_wide, m_round, m_closed = (mouth[:, i].clamp(0.0, 1.0).view(bsz, 1, 1) for i in range(4))
        c = m_closed
        jaw = OPEN_MAX * fh * m_open * (1.0 - c) * (1.0 + 0.25 * m_round)
        lift = LIFT_MAX * fh * m_open * (1.0 - c)
        kw = 0.16 * m_wide - 0.45 * m_round  # relative spread of the corners
        u_o, v_o = crop.u.unsqueeze(0), crop.v.unsqueeze(0)

        # corners: horizontal spread (fixed point, it is a gentle map)
        if bool((kw != 0).any()):
            u = u_o.expand(bsz, -1, -1)
            (seam_o,) = crop.lookup("seam", u_o)
            vw = (1.0 - (v_o - seam_o).abs() / (4.0 * m["band"])).clamp(min=0.0)
            for _ in range(3):
                u = u_o - kw * u * (1.0 - (u / (2.0 * m["hw"])) ** 2).clamp(min=0.0) ** 2 * vw
        else:  # no spread: the crop's own pixels, shared by the batch
            u = u_o
        seam, gap, lens, broad, teeth = crop.lookup("seam gap lens broad teeth", u)
        round_lens = lens ** (1.0 - 0.5 * m_round)  # pursed lips open rounder
        vv_o = v_o - seam

        # jaw drop: the lower region moves down, the upper lip up; the parted lips leave a gap
        s1 = -c * gap / 2
        top = s1 - lift * round_lens
        bottom = s1 + jaw * round_lens
        blend = m["lip_low"] + jaw

        def p_low(vv: torch.Tensor) -> torch.Tensor:
            prof = round_lens + (broad - round_lens) * ((vv - s1) / blend).clamp(0.0, 1.0)
            return prof * ((m["v_end"] - vv) / (m["v_end"] - m["v_chin"])).clamp(0.0, 1.0)

        def p_up(vv: torch.Tensor) -> torch.Tensor:
            return round_lens * (1.0 - (s1 - vv) / m["v_nose"]).clamp(0.0, 1.0)

        vv1 = torch.where(vv_o >= bottom, vv_o - jaw * round_lens, vv_o + lift * round_lens)
        for _ in range(6):
            vv1 = torch.where(vv_o >= bottom, vv_o - jaw * p_low(vv1), vv_o + lift * p_up(vv1))
        in_gap = (vv_o > top) & (vv_o < bottom)
        vv1 = torch.where(in_gap, torch.where(vv_o - top < bottom - vv_o, s1 - 0.5, s1 + 0.5), vv1)

        # lips pressed together: invert the piecewise-linear squeeze of the original lip gap
        band = m["band"]
        cg = c * gap / 2
        a_top, a_gap_top, a_gap_bot = -gap - band, -gap + cg, -cg
        vv = torch.where(
            (vv1 <= a_top) | (vv1 >= band),
            vv1,
            torch.where(
                vv1 < a_gap_top,
                a_top + (vv1 - a_top) * band / (band + cg).clamp(min=1e-3),
                torch.where(
                    vv1 < a_gap_bot,
                    -gap + (vv1 - a_gap_top) * gap / (gap - 2 * cg).clamp(min=1e-3),
                    (vv1 + cg) * band / (band + cg).clamp(min=1e-3),
                ),
            ),
        )
        patch = _sample(images, crop.to_pixels(u, vv + seam))
        patch = self._interior(patch, u, vv_o, top, bottom, gap * (1.0 - c), teeth)
        self._paste(images, crop, patch)

    def _interior(
        self, patch: torch.Tensor, u: torch.Tensor, vv: torch.Tensor, top: torch.Tensor, bottom: torch.Tensor,
        shown: torch.Tensor, teeth_u: torch.Tensor,
    ) -> torch.Tensor:  # fmt: skip
        """Paint the mouth interior into the part between the parted lips."""
        dev = patch.device
        height = (bottom - top).clamp(min=1e-3)
        alpha = ((torch.minimum(vv - top, bottom - vv) + 0.5).clamp(0.0, 1.0) * (height > 0.3)).unsqueeze(1)
        if not bool((alpha > 0).any()):
            return patch
        t = ((vv - top) / height).clamp(0.0, 1.0)
        across = (u / self.m["inner"]).clamp(-1.0, 1.0)
        lum = self.lum
        cavity = torch.tensor(CAVITY, device=dev).view(1, 3, 1, 1) * lum
        depth_shade = (0.55 + 0.45 * (2 * t - 1).abs() ** 2) * (1.0 - 0.35 * across.abs())
        color = cavity * depth_shade.unsqueeze(1)
        tooth_px = TOOTH_H * self.fh
        band = torch.minimum(0.45 * height, torch.full_like(height, tooth_px))
        band = band * (1.0 - shown / tooth_px).clamp(0.0, 1.0)  # the portrait may already show the teeth
        d_top = vv - top
        teeth_c = torch.tensor(TEETH, device=dev).view(1, 3, 1, 1) * lum
        # separate teeth: the incisors are widest in the middle, each with a rounded lower edge and a faint gap
        tooth_w = 0.26 * self.m["inner"] * (1.0 - 0.3 * across.abs())
        frac = u / tooth_w + 0.5
        frac = (frac - frac.round()).abs() * 2.0  # 0 at a tooth's centre, 1 between two teeth
        edge = band * (1.0 - 0.3 * frac**4)
        upper = (_smooth((edge - d_top) / 1.2) * teeth_u * (band > 0.5)).unsqueeze(1)
        shade = 1.0 - 0.15 * (d_top / band.clamp(min=1.0)).clamp(0.0, 1.0) - 0.3 * across.abs() ** 2
        shade = shade * (1.0 - 0.3 * _smooth((frac - 0.8) / 0.2)) * (0.8 + 0.2 * _smooth(d_top / 2.0))
        teeth_shade = shade.unsqueeze(1)
        color = color * (1 - upper) + teeth_c * teeth_shade * upper
        # tongue: a rounded hump low in the cavity; the lower teeth's edge just above the lower lip
        tongue_top = 0.55 + 0.3 * across**2
        tongue = _smooth((t - tongue_top) / 0.12) * _smooth((0.85 - across.abs()) / 0.25) * 0.85 * (height > 4)
        tongue_c = torch.tensor(TONGUE, device=dev).view(1, 3, 1, 1) * lum
        tongue_shade = (0.6 + 0.4 * _smooth((t - tongue_top) / 0.35)).unsqueeze(1)
        tongue = tongue.unsqueeze(1)
        color = color * (1 - tongue) + tongue_c * tongue_shade * tongue
        full_band = torch.minimum(0.45 * height, torch.full_like(height, tooth_px))
        d_bot = bottom - vv
        lower = (_smooth((0.3 * full_band - d_bot) / 1.0) * teeth_u * 0.55 * (height > 6)).unsqueeze(1)
        color = color * (1 - lower) + teeth_c * 0.8 * lower
        rgb = patch[:, :3] * (1 - alpha) + color * alpha
        if patch.shape[1] == 4:
            return torch.cat([rgb, torch.maximum(patch[:, 3:], alpha)], dim=1)
        return rgb
