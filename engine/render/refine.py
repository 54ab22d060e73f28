"""RefineNet: the mouth and the eyelids at full resolution, in the portrait's own frame.

Each feature lives in a local frame (u along the corners, v down the face). A frame's mouth channels become a
backward map per pixel, built in closed form, with sizes in millimetres of the face (the interpupillary distance is
63 mm): the lips are pressed together (``lips_closed``, each lip stretched within its own red so no seam shows), the
jaw drops (``mouth_open``: lower lip, chin and jaw skin move down, the upper lip lifts a little), the corners spread
or purse (``mouth_wide`` / ``mouth_round``; pursed lips also protrude, which reads as fuller lips). Where the lips
part, the interior is painted (engine.render.interior). Blinks lower the upper lid over the eye with a lash line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..mouth_calibration import APERTURE_MM_PER_UNIT, IPD_MM, JAW_SHARE, parted_opening
from .face import Portrait
from .interior import look_of, paint
from .landmarks import (
    CHIN,
    EYES,
    LOWER_INNER,
    LOWER_OUTER,
    LOWER_OUTER_MID,
    MOUTH_L,
    MOUTH_R,
    NOSE_BASE,
    UPPER_INNER,
    UPPER_OUTER,
    LocalFrame,
    curve_table,
    face_geometry,
    local_frame,
)

TABLE = 97  # samples of the per-u curves
SPREAD, PURSE = 0.14, 0.45  # relative move of the corners at mouth_wide = 1 / mouth_round = 1
ROUND_OPENING = 0.3  # a rounded opening is this much narrower than the lips around it
PROTRUDE, THIN = 0.16, 0.07  # lips look fuller when pursed (protruded), thinner when spread
LIP_MIN_MM = 1.2  # the thinnest a lip's red is taken to be
EDGE_MARGIN_MM = 0.4  # pressed lips are stretched from this far inside their inner edge (never the teeth's pixels)


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
        self.mm = geo.ipd / IPD_MM  # pixels per millimetre of this face
        size = portrait.size
        # skin brightness sets the interior's brightness
        rgb = portrait.image[..., :3]
        xs = np.clip(lm[:, 0].round().astype(int), 0, size[0] - 1)
        ys = np.clip(lm[:, 1].round().astype(int), 0, size[1] - 1)
        self.skin = np.median(rgb[ys, xs], axis=0)
        self.lum = float(np.clip(self.skin.mean() / 0.6, 0.5, 1.4))
        self.mouth = self._mouth_crop(lm, size, portrait.image)
        self.eyes = [self._eye_crop(lm, size, eye) for eye in EYES]

    # ----- set-up -----
    def _mouth_crop(self, lm: np.ndarray, size: tuple[int, int], image: np.ndarray) -> _Crop:
        fh, fw, mm = self.fh, self.fw, self.mm
        frame = local_frame(lm[MOUTH_L], lm[MOUTH_R])
        up = frame.to_local(lm[UPPER_INNER])
        low = frame.to_local(lm[LOWER_INNER])
        up_out = frame.to_local(lm[UPPER_OUTER])
        low_out = frame.to_local(lm[LOWER_OUTER])
        hw = float(np.linalg.norm(lm[MOUTH_R] - lm[MOUTH_L])) / 2
        u_range = (-0.9 * fw, 0.9 * fw)
        ug = np.linspace(*u_range, TABLE)
        seam = curve_table(low, ug)  # lower inner lip edge: the jaw's side of the split
        up_in = curve_table(up, ug)
        gap = np.maximum(seam - up_in, 0.0)
        inner = float(np.abs(low[:, 0]).max())
        gap[np.abs(ug) > inner] = 0.0
        upper_lip = np.maximum(up_in - curve_table(up_out, ug), LIP_MIN_MM * mm)  # thickness of each lip's red
        lower_lip = np.maximum(curve_table(low_out, ug) - seam, LIP_MIN_MM * mm)
        broad = np.clip((0.7 * fw - np.abs(ug)) / (0.28 * fw), 0.0, 1.0)
        own = np.clip((gap - 1.0) / 1.5, 0.0, 1.0)  # where the portrait shows its own mouth (teeth of a smile)
        seam0 = float(np.interp(0.0, ug, seam))
        self.seam0 = seam0  # the rest lip line in the middle of the mouth
        self.rest_gap = float(np.interp(0.0, ug, gap))  # the lips' parting at rest in the middle (pixels)
        loc = frame.to_local(lm[[NOSE_BASE, CHIN, LOWER_OUTER_MID, 13]])
        self.m = {
            "hw": hw,
            "inner": inner,
            "v_nose": max(2.0, seam0 - loc[0, 1]),
            "v_chin": max(4.0, loc[1, 1] - seam0),
            "lip_low": max(2.0, loc[2, 1] - seam0),
            "margin": max(0.7, EDGE_MARGIN_MM * mm),
            "teeth_top": max(1.0, 1.2 * mm),  # a shown gap's top rows are the upper lip's edge, not teeth
        }
        self.m["v_end"] = self.m["v_chin"] + 0.3 * fh
        jaw_max = JAW_SHARE * APERTURE_MM_PER_UNIT * mm
        extent = (-0.75 * fw, 0.75 * fw, seam0 - self.m["v_nose"] - 2, seam0 + self.m["v_end"] + jaw_max + 2)
        tables = {"seam": seam, "gap": gap, "broad": broad, "own": own, "upper_lip": upper_lip, "lower_lip": lower_lip}

        def to_pixels(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            p = frame.origin + u[..., None] * frame.eu + v[..., None] * frame.ev
            return p[..., 0], p[..., 1]

        def curve(pts: np.ndarray):
            return lambda u: curve_table(pts, u)

        self.look = look_of(image, to_pixels, float(loc[3, 0]), hw, curve(up_out), curve(up), curve(low),
                            curve(low_out), mm, self.skin)  # fmt: skip
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
    def apply(
        self, images: torch.Tensor, mouth: torch.Tensor, blink: torch.Tensor, tongue: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Edit ``images`` (B, C, H, W) in place and return it. ``mouth`` (B, 4): open, wide, round, closed;
        ``blink`` (B,): eyelid closure 0..1; ``tongue`` (B,): tongue tip raised (l, n, t, d, th), 0..1."""
        if bool((blink > 1e-3).any()):
            for crop in self.eyes:
                self._blink(images, crop, blink)
        if bool((mouth.abs() > 1e-3).any()):
            if tongue is None:
                tongue = torch.zeros(mouth.shape[0], dtype=mouth.dtype, device=mouth.device)
            self._mouth(images, mouth, tongue)
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

    def _unpress(
        self, vv: torch.Tensor, gap: torch.Tensor, c: torch.Tensor, upper: torch.Tensor, lower: torch.Tensor
    ) -> torch.Tensor:
        """Source of ``vv`` (below the rest lip line) with the lips pressed by ``c``: each lip's red is stretched
        over half the gap, sampled from a margin inside its inner edge (so no pixel of the teeth or of the dark
        gap is drawn into the lips: no seam); what is left of the gap is squeezed."""
        cg = c * gap / 2
        margin = self.m["margin"] * _smooth(3.0 * c)
        a_top, m_up, m_low = -gap - upper, -gap + cg, -cg
        src_up_end, src_low = -gap - margin, margin
        upper_src = a_top + (vv - a_top) * (src_up_end - a_top) / (m_up - a_top).clamp(min=1e-3)
        gap_src = -gap + (vv - m_up) * gap / (m_low - m_up).clamp(min=1e-3)
        lower_src = src_low + (vv - m_low) * (lower - src_low) / (lower - m_low).clamp(min=1e-3)
        pressed = torch.where(vv < m_up, upper_src, torch.where(vv < m_low, gap_src, lower_src))
        return torch.where((vv <= a_top) | (vv >= lower), vv, pressed)

    def _mouth(self, images: torch.Tensor, mouth: torch.Tensor, tongue: torch.Tensor) -> None:
        crop, m, mm = self.mouth, self.m, self.mm
        bsz = mouth.shape[0]
        m_open, m_wide, m_round, m_closed = (mouth[:, i].clamp(0.0, 1.0).view(bsz, 1, 1) for i in range(4))
        c = m_closed
        speech = APERTURE_MM_PER_UNIT * mm * m_open * (1.0 - c)  # the speech's aperture on closed lips
        # lips parted at rest open by a share of it (the same shape along the mouth, scaled)
        aperture = parted_opening(speech, self.rest_gap / mm)
        jaw, lift = JAW_SHARE * aperture, (1.0 - JAW_SHARE) * aperture
        kw = SPREAD * m_wide - PURSE * m_round  # relative spread of the corners
        u_o, v_o = crop.u.unsqueeze(0), crop.v.unsqueeze(0)

        # corners: horizontal spread (fixed point, it is a gentle map)
        if bool((kw != 0).any()):
            u = u_o.expand(bsz, -1, -1)
            (seam_o,) = crop.lookup("seam", u_o)
            vw = (1.0 - (v_o - seam_o).abs() / (0.2 * self.fh)).clamp(min=0.0)  # the corners pull the cheeks along
            for _ in range(3):
                u = u_o - kw * u * (1.0 - (u / (2.0 * m["hw"])) ** 2).clamp(min=0.0) ** 2 * vw
        else:  # no spread: the crop's own pixels, shared by the batch
            u = u_o
        seam, gap, broad, own, upper, lower = crop.lookup("seam gap broad own upper_lip lower_lip", u)
        # the opening along the mouth: widest in the middle; pursed lips open rounder and narrower
        half = m["hw"] * (1.0 - ROUND_OPENING * m_round)
        round_lens = (1.0 - (u / half) ** 2).clamp(min=0.0) ** (0.6 * (1.0 - 0.5 * m_round))
        vv = v_o - seam

        # pursed lips protrude and look fuller, spread lips thinner: a lens about the middle of the lips
        full = PROTRUDE * m_round - THIN * m_wide
        if bool((full != 0).any()):
            mid = -gap / 2
            reach = gap / 2 + 2.2 * torch.maximum(upper, lower)
            w = (1.0 - ((vv - mid) / reach) ** 2).clamp(min=0.0) ** 2
            vv = vv - full * (vv - mid) * w

        # where the lip edges are now: pressed together by c, parted by the jaw and the lifting upper lip
        cg = c * gap / 2
        # the skin between the nose base (fixed) and the upper lip's edge is squeezed linearly as the lip lifts; the
        # lip rises at most 3/4 of that height, so the map never folds (rows above the nose base stay untouched)
        v_nose = (seam - (self.seam0 - m["v_nose"])).clamp(min=1.0)  # the nose base's line, the same for every u
        d_up = (v_nose - gap + cg).clamp(min=1.0)
        lift_up = torch.minimum(lift * round_lens, 0.75 * d_up)
        e_up = -gap + cg - lift_up
        e_low = -cg + jaw * round_lens
        blend = m["lip_low"] + jaw

        def p_low(x: torch.Tensor) -> torch.Tensor:
            prof = round_lens + (broad - round_lens) * ((x + cg) / blend).clamp(0.0, 1.0)
            return prof * ((m["v_end"] - x) / (m["v_end"] - m["v_chin"])).clamp(0.0, 1.0)

        squeezed = -v_nose + (vv + v_nose) / (1.0 - lift_up / d_up)  # the inverse of the linear squeeze
        above_src = torch.where(vv <= -v_nose, vv, torch.minimum(squeezed, vv + lift_up))
        below = vv >= e_low
        vv1 = torch.where(below, vv - jaw * round_lens, above_src)
        for _ in range(6):
            vv1 = torch.where(below, vv - jaw * p_low(vv1), above_src)
        src = self._unpress(vv1, gap, c, upper, lower)
        # between the parted lips the portrait's own mouth stays where it is (teeth are fixed to the skull)
        opening = (vv > e_up) & (vv < e_low)
        own_src = torch.minimum(torch.maximum(self._unpress(vv, gap, c, upper, lower), -gap + m["teeth_top"]),
                                -cg - m["margin"])  # fmt: skip
        src = torch.where(opening, own_src, src)
        patch = _sample(images, crop.to_pixels(u, src + seam))
        # pressed lips meet in a soft, slightly darker line, as closed lips do
        meet = _smooth(2.0 * c - 1.0) * _smooth((gap - 1.0) / 2.0)
        if bool((meet > 0).any()):
            line = meet * 0.18 * torch.exp(-(((vv + gap / 2) / max(0.8, 0.35 * mm)) ** 2))
            patch = torch.cat([patch[:, :3] * (1.0 - line.unsqueeze(1)), patch[:, 3:]], dim=1)
        own_mask = own * _smooth(-cg - vv + 0.5)
        patch = paint(self.look, patch, u_o, vv, e_up, e_low, own_mask, jaw, m_wide, tongue.view(bsz, 1, 1), m["inner"])
        self._paste(images, crop, patch)
