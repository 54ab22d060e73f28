"""Measure the renderer: re-detect rendered frames with mediapipe's face mesh and compare with the inputs.

Prints JSON: head-pose error against the requested pose (mean degrees per axis, |angles| <= 15), correlation of
the measured mouth opening (inner-lip distance / face height) with ``mouth_open``, SSIM of the neutral-pose,
closed-mouth frame against the portrait, and landmark jitter (px) while the pose is constant (mouth still, and
mouth moving: then the upper-face pixels do not change and what moves is the detector's estimate).
Targets: <= 2 degrees, corr >= 0.7, SSIM >= 0.95, jitter <= 0.3 px.
Usage: ``python scripts/eval_render.py [--image examples/portrait.png] [--size 512]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import mediapipe as mp
import numpy as np
import torch
from scipy.ndimage import gaussian_filter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.headpose import RIGID, head_pose  # noqa: E402
from engine.render import Renderer  # noqa: E402
from engine.render.landmarks import CHIN, FOREHEAD  # noqa: E402


def detect(mesh, frame: np.ndarray) -> np.ndarray | None:
    h, w = frame.shape[:2]
    res = mesh.process(np.ascontiguousarray(frame[..., :3]))
    if not res.multi_face_landmarks:
        return None
    lm = np.array([[p.x, p.y, p.z] for p in res.multi_face_landmarks[0].landmark])
    return lm * np.array([w, h, w])


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two images (grey, 0..1, Gaussian window sigma 1.5)."""
    a = a[..., :3].astype(np.float64).mean(-1) / 255.0
    b = b[..., :3].astype(np.float64).mean(-1) / 255.0
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = gaussian_filter(a, 1.5), gaussian_filter(b, 1.5)
    saa = gaussian_filter(a * a, 1.5) - mu_a**2
    sbb = gaussian_filter(b * b, 1.5) - mu_b**2
    sab = gaussian_filter(a * b, 1.5) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return float(s.mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default=str(ROOT / "examples" / "portrait.png"))
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    r = Renderer(args.image, size=args.size, device="cpu")
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True)
    zeros4 = np.zeros((1, 4))
    neutral = r.render_batch(np.array([[0, 0, 0, 0, 0, 1.0]]), zeros4, np.zeros(1))[0]
    ref = detect(mesh, neutral)
    rigid = RIGID

    # 1. head pose: single-axis sweeps and mixed poses within +-15 degrees
    poses = []
    for axis in range(3):
        for v in (-15, -10, -5, 5, 10, 15):
            p = [0, 0, 0, 0, 0, 1.0]
            p[axis] = v
            poses.append(p)
    rng = np.random.default_rng(0)
    for _ in range(12):
        poses.append([*rng.uniform(-10, 10, 3), *rng.uniform(-0.1, 0.1, 2), rng.uniform(0.95, 1.05)])
    poses = np.array(poses)
    frames = np.concatenate([r.render_batch(poses[i : i + 16], np.zeros((len(poses[i : i + 16]), 4)),
                                            np.zeros(len(poses[i : i + 16]))) for i in range(0, len(poses), 16)])  # fmt: skip
    errors, missed = [], 0
    for p, f in zip(poses, frames):
        lm = detect(mesh, f)
        if lm is None:
            missed += 1
            continue
        errors.append(np.abs(head_pose(ref, lm) - p))
    full = np.array(errors)
    err = full[:, :3]
    pose_err = {k: round(float(v), 3) for k, v in zip(("pitch", "yaw", "roll"), err.mean(0))}
    pose_err["mean"] = round(float(err.mean()), 3)
    pose_err["max"] = round(float(err.max()), 3)
    pose_err["xy_face_heights"] = round(float(full[:, 3:5].mean()), 4)  # the head_pose estimate of x, y
    pose_err["scale"] = round(float(full[:, 5].mean()), 4)

    # 2. mouth: opening follows mouth_open (neutral pose, no blinks)
    t = np.arange(60) / 25.0
    m_open = np.clip(0.5 + 0.5 * np.sin(2 * np.pi * 1.3 * t) * np.abs(np.sin(2 * np.pi * 0.31 * t + 0.3)), 0, 1)
    mouth = np.zeros((60, 4))
    mouth[:, 0] = m_open
    mouth[::7, 1] = 0.5  # some width changes that should not read as opening
    still = np.tile([0, 0, 0, 0, 0, 1.0], (60, 1))
    mframes = np.concatenate([r.render_batch(still[i : i + 20], mouth[i : i + 20], np.zeros(20)) for i in (0, 20, 40)])
    opening, jit_pts = [], []
    for f in mframes:
        lm = detect(mesh, f)
        if lm is None:
            opening.append(np.nan)
            continue
        opening.append(np.linalg.norm(lm[13, :2] - lm[14, :2]) / np.linalg.norm(lm[FOREHEAD, :2] - lm[CHIN, :2]))
    opening = np.array(opening)
    ok = np.isfinite(opening)
    corr = float(np.corrcoef(opening[ok], m_open[ok])[0, 1])

    # 3. jitter: constant (non-neutral) pose: upper-face landmarks should not move, with the mouth still and moving
    # (with the mouth moving the upper-face pixels are unchanged: what moves is the detector's estimate)
    const = np.tile([4, 8, -3, 0.02, 0.0, 1.0], (60, 1))
    jframes = np.concatenate([r.render_batch(const[i : i + 20], mouth[i : i + 20], np.zeros(20)) for i in (0, 20, 40)])
    upper = np.array([i for i in rigid if ref[i, 1] < ref[1, 1]])  # above the nose tip
    for f in jframes:
        lm = detect(mesh, f)
        if lm is not None:
            jit_pts.append(lm[upper, :2])
    jp = np.array(jit_pts)
    jitter = float(np.linalg.norm(np.diff(jp, axis=0), axis=-1).mean())
    head_jitter = float(np.linalg.norm(np.diff(jp.mean(1), axis=0), axis=-1).mean())
    still_frames = r.render_batch(const[:10], np.zeros((10, 4)), np.zeros(10))
    sp = np.array([detect(mesh, f)[upper, :2] for f in still_frames])
    still_jitter = float(np.linalg.norm(np.diff(sp, axis=0), axis=-1).mean())

    # 4. SSIM of the neutral, closed-mouth frame against the portrait (both the direct path and through the warp)
    portrait = (np.clip(r.portrait.image, 0, 1) * 255 + 0.5).astype(np.uint8)
    with torch.inference_mode():
        img = r.image.unsqueeze(0)
        warped = r.coarse.warp(img, torch.tensor([[0, 0, 0, 0, 0, 1.0]], device=r.device))
    warped = (warped[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)

    out = {
        "image": str(args.image),
        "size": [r.width, r.height],
        "pose_error_deg": pose_err,
        "pose_frames": len(poses),
        "pose_missed_detections": missed,
        "mouth_corr": round(corr, 3),
        "mouth_opening_range": [round(float(np.nanmin(opening)), 4), round(float(np.nanmax(opening)), 4)],
        "ssim_neutral": round(ssim(neutral, portrait), 4),
        "ssim_neutral_through_warp": round(ssim(warped, portrait), 4),
        "jitter_px": round(still_jitter, 3),
        "jitter_px_mouth_moving": round(jitter, 3),
        "head_jitter_px_mouth_moving": round(head_jitter, 3),
        "targets": {"pose_error_deg": 2.0, "mouth_corr": 0.7, "ssim": 0.95, "jitter_px": 0.3},
    }
    out["pass"] = bool(pose_err["mean"] <= 2.0 and corr >= 0.7 and out["ssim_neutral"] >= 0.95 and still_jitter <= 0.3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
