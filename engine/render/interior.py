"""The mouth interior between parted lips, sized and coloured from the portrait's own face.

Sizes are in millimetres of the face (``mm``: pixels per millimetre, from the interpupillary distance): crown widths
and heights of real teeth along a dental arch seen from the front, the upper incisal edge a little below the upper
lip, the lower teeth behind the lower lip. Back to front: a cavity that is dark in the depth of the mouth and lit
near the lips, the tongue (low at rest; its tip raised behind the upper teeth on l, n, t, d, th), the lower teeth,
the upper teeth (fixed to the skull, partly hidden by the upper lip, shaded by it), the portrait's own mouth where
it shows one (teeth of a smile stay), and the wet inner edge of both lips in the portrait's lip colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# frontal crown widths (mm) from the midline along the arch: incisors, canine, premolars
UPPER_TEETH_MM = (8.6, 6.6, 7.6, 7.0, 6.6)
LOWER_TEETH_MM = (5.4, 5.9, 6.9, 7.0, 7.0)
ARCH_RADIUS_MM = 24.0  # the front of the dental arch seen from above, as a circle
UPPER_DISPLAY_MM = 1.8  # upper incisal edge below the upper lip at rest with the lips apart
TONGUE_TIP_HALF_MM = 9.0  # half width of the raised tongue blade where it curves 3 mm down
TEETH_RGB = (0.95, 0.92, 0.84)  # when the portrait shows none: tinted by its light, a little brighter than its skin
TONGUE_RGB = (0.80, 0.42, 0.44)
CAVITY_RGB = (0.2, 0.055, 0.06)


def _smooth(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _over(dst: torch.Tensor, src: torch.Tensor | float, alpha: torch.Tensor) -> torch.Tensor:
    return dst + (src - dst) * alpha


@dataclass
class InteriorLook:
    """Per-portrait colours and measures of the interior (set up once)."""

    mm: float  # pixels per millimetre
    u_mid: float  # local u of the face's midline at the mouth
    lip: tuple[float, float, float]  # the portrait's lip colour
    teeth: tuple[float, float, float]
    own_teeth: bool  # the portrait shows its teeth (their colour is the portrait's)
    lum: float  # light on the face relative to an average portrait


def _rgb(values: np.ndarray) -> tuple[float, float, float]:
    return tuple(float(x) for x in np.clip(values, 0.0, 1.0))  # type: ignore[return-value]


def look_of(
    image: np.ndarray, to_pixels, u_mid: float, hw: float, up_out, up_in, low_in, low_out, mm: float, skin: np.ndarray
) -> InteriorLook:
    """Measure the portrait: lip colour between the outer and inner lip edges, teeth colour in a shown gap.
    ``to_pixels(u, v)`` maps local coordinates to pixel (x, y); the curves give v at u; ``skin``: the face's median
    colour (its light and colour cast)."""
    h, w = image.shape[:2]

    def sample(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        x, y = to_pixels(u, v)
        xi = np.clip(np.round(x).astype(int), 0, w - 1)
        yi = np.clip(np.round(y).astype(int), 0, h - 1)
        return image[yi, xi, :3]

    us = u_mid + np.linspace(-0.45, 0.45, 19) * hw
    ts = np.linspace(0.3, 0.7, 5)
    lips = []
    for a, b in ((up_out, up_in), (low_in, low_out)):
        va, vb = a(us), b(us)
        for t in ts:
            lips.append(sample(us, va + t * (vb - va)))
    lip = np.median(np.concatenate(lips), axis=0)

    gap = low_in(us) - up_in(us)
    skin = np.asarray(skin, dtype=np.float64)
    lum = float(np.clip(skin.mean() / 0.6, 0.5, 1.4))
    cast = (skin / max(float(skin.mean()), 1e-3)) ** 0.35  # the photo's white balance, mildly
    teeth = np.array(TEETH_RGB) * cast * np.clip(1.3 * skin.mean() / np.mean(TEETH_RGB), 0.55, 1.05)
    own = False
    if float(np.median(gap)) > 2.5 * max(mm * 0.5, 1.0):  # a gap of more than ~2.5 mm: what does it show?
        pts = [sample(us, up_in(us) + t * gap) for t in np.linspace(0.25, 0.75, 5)]
        px = np.concatenate(pts)
        luma = px.mean(1)
        bright = px[luma >= np.percentile(luma, 60)]
        cand = bright.mean(0)
        sat = float(cand.max() - cand.min()) / max(float(cand.max()), 1e-3)
        if cand.mean() > 0.45 * max(float(lip.mean()), 0.2) + 0.15 and sat < 0.45:  # bright and pale: teeth
            teeth, own = cand, True
    return InteriorLook(mm=mm, u_mid=u_mid, lip=_rgb(lip), teeth=_rgb(teeth), own_teeth=own, lum=lum)


def _tooth_pattern(s_mm: torch.Tensor, widths: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the tooth at arch length ``s_mm`` (from the midline, both sides) and the position across it:
    0 at the tooth's middle, 1 at its edges."""
    bounds = torch.tensor(np.cumsum((0.0,) + widths), dtype=s_mm.dtype, device=s_mm.device)
    k = torch.bucketize(s_mm, bounds[1:-1])
    lo, hi = bounds[k], bounds[k + 1]
    across = ((s_mm - lo) / (hi - lo) * 2.0 - 1.0).abs().clamp(0.0, 1.0)
    return k, across


def paint(
    look: InteriorLook,
    patch: torch.Tensor,
    u: torch.Tensor,
    vv: torch.Tensor,
    e_up: torch.Tensor,
    e_low: torch.Tensor,
    own: torch.Tensor,
    jaw: torch.Tensor,
    wide: torch.Tensor,
    tongue: torch.Tensor,
    inner: float,
) -> torch.Tensor:
    """Paint the interior into ``patch`` (B, C, h, w) between the upper and lower inner lip edges ``e_up`` and
    ``e_low`` (v below the rest lip line, output pixels). ``u``/``vv``: the pixels' local coordinates; ``own``:
    where the portrait's own mouth shows (0..1, kept); ``jaw`` (B, 1, 1): the lower lip's drop in the middle (px);
    ``wide`` (B, 1, 1) spreading, ``tongue`` (B, 1, 1) the raised tongue tip; ``inner``: half width of the mouth
    opening (px)."""
    height = (e_low - e_up).clamp(min=0.0)
    inside = (torch.minimum(vv - e_up, e_low - vv) + 0.5).clamp(0.0, 1.0) * (height > 0.3)
    rows = torch.nonzero(inside.amax(dim=(0, 2)) > 0).flatten()
    if len(rows) == 0:
        return patch
    cols = torch.nonzero(inside.amax(dim=(0, 1)) > 0).flatten()
    # only the box around the opening: the rest of the mouth crop is lips and skin
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1

    def box(t: torch.Tensor) -> torch.Tensor:
        return t[..., r0:r1, c0:c1] if t.shape[-1] > 1 else t

    out = patch.clone()
    out[..., r0:r1, c0:c1] = _paint_box(look, box(patch), box(u), box(vv), box(e_up), box(e_low), box(own), jaw,
                                         wide, tongue, inner, box(height), box(inside).unsqueeze(1))  # fmt: skip
    return out


def _paint_box(
    look: InteriorLook, patch: torch.Tensor, u: torch.Tensor, vv: torch.Tensor, e_up: torch.Tensor,
    e_low: torch.Tensor, own: torch.Tensor, jaw: torch.Tensor, wide: torch.Tensor, tongue: torch.Tensor,
    inner: float, height: torch.Tensor, inside: torch.Tensor,
) -> torch.Tensor:  # fmt: skip
    """``paint`` on the box around the opening."""
    mm = look.mm
    dev, dt = patch.device, patch.dtype
    height_mm = height / mm
    du = u - look.u_mid
    side = (du / inner).abs().clamp(0.0, 1.0)

    def col(rgb) -> torch.Tensor:
        return torch.tensor(rgb, dtype=dt, device=dev).view(1, 3, 1, 1)

    lip = col(look.lip)
    inner_lip = lip * col((0.78, 0.66, 0.68))  # the wet inside of the lips: a darker, redder lip colour
    # cavity: dark in the depth, lit by the light falling in past the lips
    d_edge = torch.minimum(vv - e_up, e_low - vv).clamp(min=0.0) / mm
    lit = torch.exp(-d_edge / 3.0) * (1.0 - 0.5 * side**2)
    deep = _smooth(d_edge / 6.0) * (1.0 - side**2)  # the throat, far back in the middle
    dark = col(CAVITY_RGB) * look.lum * (1.0 - 0.45 * side**2 - 0.45 * deep).unsqueeze(1)
    color = dark + (inner_lip * 0.75 - dark) * (0.8 * lit).unsqueeze(1)

    # dental arch seen from the front: arch length from the midline, depth behind the incisors
    x_mm = (du.abs() / mm).clamp(max=ARCH_RADIUS_MM * 0.999)
    angle = torch.asin(x_mm / ARCH_RADIUS_MM)
    s_mm = ARCH_RADIUS_MM * angle
    depth = ARCH_RADIUS_MM * (1.0 - torch.cos(angle))  # mm behind the front teeth
    depth_shade = torch.exp(-depth / 9.0)

    # tongue at rest: a hump low behind the lower teeth, seen once the mouth opens far enough
    hump = torch.minimum(0.4 * jaw, torch.full_like(jaw, 7.0 * mm))
    rest_top = jaw - hump + (hump + 3.0 * mm) * 1.6 * side**2
    v_inc = e_up.new_tensor(0.0) + (UPPER_DISPLAY_MM - 0.004 * s_mm**2) * mm  # upper incisal edge: the smile line
    # the tongue tip raised behind the upper teeth (l, n, t, d, th): a rounded blade up to the incisal edge
    blade = (du / (TONGUE_TIP_HALF_MM * mm)) ** 2  # 0 in the middle, 1 at the blade's side
    tip_top = rest_top + (v_inc - 0.3 * mm - 1.0 + 3.0 * mm * blade - rest_top) * tongue
    tip = tongue * _smooth((vv - tip_top) / 1.0) * _smooth((1.6 - blade) / 0.6)
    rest = _smooth((vv - rest_top) / (0.8 * mm)) * _smooth((0.95 - side) / 0.2) * _smooth((height_mm - 4.0) / 6.0)
    rest = rest * (1.0 - tongue)  # a raised tip takes the tongue with it
    tongue_a = torch.maximum(rest, tip).unsqueeze(1)
    tongue_c = 0.55 * col(TONGUE_RGB) * look.lum + 0.45 * lip
    # the raised blade is lit at its tip and falls into shadow below; the resting tongue's back is in shadow
    lit_tip = 0.72 + 0.28 * torch.exp(-(vv - tip_top).clamp(min=0.0) / (2.0 * mm))
    back_dark = 0.55 + 0.45 * _smooth((vv - rest_top) / (4.0 * mm))
    tongue_shade = torch.where(tip > rest, lit_tip, back_dark) * (1.0 - 0.35 * side**2)
    color = _over(color, tongue_c * tongue_shade.unsqueeze(1), tongue_a)

    teeth = col(look.teeth)
    # lower teeth: fixed to the jaw behind the lower lip; their edge shows on open and spread shapes
    show_mm = 2.0 * _smooth((height_mm - 8.0) / 12.0) + 3.0 * wide * _smooth((height_mm - 2.0) / 6.0)
    low_edge = torch.maximum(e_low - show_mm * mm, v_inc + 1.0)
    _, across_lo = _tooth_pattern(s_mm, LOWER_TEETH_MM)
    low_edge = low_edge + 0.35 * mm * across_lo**3
    lower_a = _smooth(vv - low_edge + 0.5) * _smooth((0.97 - side) / 0.1) * _smooth((show_mm - 0.8) / 0.8)
    lower_shade = (
        0.85 * depth_shade.sqrt() * (1.0 - 0.2 * across_lo**2) * (1.0 - 0.15 * _smooth((across_lo - 0.8) / 0.2))
    )
    color = _over(color, teeth * lower_shade.unsqueeze(1), lower_a.unsqueeze(1))

    # upper teeth: from under the upper lip down to the incisal edge (rounded corners, a pointed canine)
    k_up, across = _tooth_pattern(s_mm, UPPER_TEETH_MM)
    edge = v_inc - 0.55 * mm * across**3 + (k_up == 2).to(dt) * 0.5 * mm * (1.0 - across**2)
    upper_a = _smooth(edge - vv + 0.5) * _smooth((0.97 - side) / 0.1)
    under_lip = 1.0 - 0.45 * torch.exp(-(vv - e_up).clamp(min=0.0) / (1.0 * mm))  # the lip's shadow
    gaps = 1.0 - 0.45 * _smooth((across - 0.78) / 0.22)  # between neighbouring teeth
    body = 1.0 - 0.22 * across**2  # each crown is rounded
    tip_edge = 1.0 - 0.12 * _smooth(1.0 - (edge - vv) / (0.9 * mm))  # translucent incisal edge
    upper_shade = depth_shade * under_lip * gaps * body * tip_edge
    color = _over(color, teeth * upper_shade.unsqueeze(1), upper_a.unsqueeze(1))

    # the portrait's own mouth where it shows one; all of it in the lips' shade when they are nearly closed
    color = _over(color, patch[:, :3], own.unsqueeze(1))
    shut = (1.0 - _smooth(height_mm / 5.0)).unsqueeze(1)
    color = color * (1.0 - 0.7 * shut) + inner_lip * 0.3 * shut
    band = ((0.3 + 0.04 * height_mm).clamp(max=0.9) * mm).clamp(min=0.8)
    bottom = (1.0 - (e_low - vv) / band).clamp(0.0, 1.0)
    top = (1.0 - (vv - e_up) / band).clamp(0.0, 1.0) * (1.0 - own)
    color = _over(color, inner_lip, torch.maximum(bottom, top).unsqueeze(1) * 0.85)

    rgb = patch[:, :3] + (color - patch[:, :3]) * inside
    if patch.shape[1] == 4:
        return torch.cat([rgb, torch.maximum(patch[:, 3:], inside)], dim=1)
    return rgb
