"""Measure the renderer: re-detect rendered frames with mediapipe's face mesh and compare with the inputs.

Prints JSON: head-pose error against the requested pose (mean degrees per axis, |angles| <= 15), correlation of
the measured mouth opening (inner-lip distance / face height) with ``mouth_open``, SSIM of the neutral-pose,
closed-mouth frame against the portrait, and landmark jitter (px) while the pose is constant (mouth still, and
mouth moving: then the upper-face pixels do not change and what moves is the detector's estimate).

``aperture_mm``: the whole chain from audio to pixels at strength 1. Ordinary conversational lines spoken by voices
the calibration was not tuned on (``scripts/speech_voices.py``: Festival's kal and slt, the Piper voice) go through
the ``lips`` op and the renderer (neutral pose, no blinks); the inner-lip distance of each re-detected frame
(landmarks 13 and 14) is converted to millimetres with the interpupillary distance (iris centres 468 and 473) as
63 mm, so the numbers hold for any face size. Reported per portrait and voice and pooled: median, 90th percentile
and max over the frames from the first to the last spoken sound. ``loudness``: the same lines with every second
line 10 dB louder; p90 of the louder lines against the others.
Targets: <= 2 degrees, corr >= 0.9, SSIM >= 0.95, jitter <= 0.3 px; aperture p90 6-16 mm, max <= 22 mm.
Usage: ``python scripts/eval_render.py [--image examples/portrait.png] [--size 512] [--skip-aperture]
[--voices tune] [--voice piper:joe ...] [--lines N] [--with-text] [--aperture-only] [--portraits closed_lips,toothy_smile,small_face_wide]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import mediapipe as mp
import numpy as np
import torch
from scipy.ndimage import gaussian_filter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from portraits import TOOTHY, closed_lips, small_face_wide  # noqa: E402
from speech_voices import EVAL_TEXTS, EVAL_VOICES, TUNE_TEXTS, TUNE_VOICES, speech_clip  # noqa: E402

from engine.headpose import RIGID, head_pose  # noqa: E402
from engine.jobs import Job, run_op  # noqa: E402
from engine.mouth_calibration import IPD_MM  # noqa: E402
from engine.render import Renderer  # noqa: E402
from engine.render.landmarks import CHIN, FOREHEAD  # noqa: E402

IRIS_L, IRIS_R = 468, 473
FPS = 25.0
PORTRAITS = ("closed_lips", "toothy_smile", "small_face_wide")
_LIPS: dict[str, dict] = {}  # lips documents by the lips op's params


def detect(mesh, frame: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray | None:
    """Landmarks (478, 3) in frame pixels; with ``box`` (x0, y0, x1, y1) the detector sees only that part (a small
    face in a wide frame is found in a crop around it)."""
    x0, y0, x1, y1 = box or (0, 0, frame.shape[1], frame.shape[0])
    crop = frame[y0:y1, x0:x1]
    h, w = crop.shape[:2]
    res = mesh.process(np.ascontiguousarray(crop[..., :3]))
    if not res.multi_face_landmarks:
        return None
    lm = np.array([[p.x, p.y, p.z] for p in res.multi_face_landmarks[0].landmark])
    return lm * np.array([w, h, w]) + np.array([x0, y0, 0])


def face_box(r: Renderer, margin: float = 1.6) -> tuple[int, int, int, int]:
    """A square around the portrait's face, ``margin`` face heights on a side."""
    lm = r.portrait.landmarks
    c = lm[:, :2].mean(0)
    half = margin * float(np.linalg.norm(lm[FOREHEAD, :2] - lm[CHIN, :2])) / 2
    x0, y0 = max(0, int(c[0] - half)), max(0, int(c[1] - half))
    return x0, y0, min(r.width, int(c[0] + half)), min(r.height, int(c[1] + half))


def _stats(values: np.ndarray) -> dict:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return {"median": round(float(np.median(v)), 2), "p90": round(float(np.percentile(v, 90)), 2),
            "max": round(float(v.max()), 2), "frames": int(len(v))}  # fmt: skip


def _shape_at(visemes: list[dict], t: np.ndarray) -> np.ndarray:
    """The viseme letter at each time ``t`` (X outside every entry)."""
    out = np.full(len(t), "X", dtype="<U1")
    for v in visemes:
        out[(t >= v["start"]) & (t < v["end"])] = v["shape"]
    return out


def aperture_track(
    r: Renderer, mesh, audio: str, box: tuple[int, int, int, int], text: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Inner-lip aperture (mm) of every rendered frame of ``audio`` at strength 1, the frame times (s), the viseme
    of each frame, and the aperture of the portrait at rest (mm); NaN where the detector found no face. Only the
    frames from the first to the last spoken sound. ``text``: the lines' words (the lips op's transcript path)."""
    params = {"audio": audio, "fps": FPS, "strength": 1.0}
    if text is not None:
        params.update(text=text, language="en-us")
    key = json.dumps(params, sort_keys=True)
    if key not in _LIPS:  # the same speech on every portrait: one lip sync
        _LIPS[key] = run_op("lips", params, Job("eval"))["lips"]
    doc = _LIPS[key]
    lips = np.array(doc["frames"], dtype=np.float32)
    spoken = [v for v in doc["visemes"] if v["shape"] != "X"]
    first, last = int(spoken[0]["start"] * FPS), int(np.ceil(spoken[-1]["end"] * FPS))
    n = len(lips)
    pose = np.tile([0, 0, 0, 0, 0, 1.0], (n, 1))
    frames = r.render(pose, lips, doc["channels"], fps=FPS, blinks=False, visemes=doc["visemes"])
    neutral = detect(mesh, r.render_batch(pose[:1], np.zeros((1, 4)), np.zeros(1))[0], box)
    ipd = float(np.linalg.norm(neutral[IRIS_L, :2] - neutral[IRIS_R, :2]))
    rest = float(np.linalg.norm(neutral[13, :2] - neutral[14, :2])) * IPD_MM / ipd
    out, k = np.full(n, np.nan), 0
    for chunk in frames:
        for f in chunk:
            if first <= k <= last:
                lm = detect(mesh, f, box)
                if lm is not None:
                    out[k] = np.linalg.norm(lm[13, :2] - lm[14, :2]) * IPD_MM / ipd
            k += 1
    t = np.arange(n) / FPS
    keep = (np.arange(n) >= first) & (np.arange(n) <= last)
    return out[keep], t[keep], _shape_at(doc["visemes"], t[keep] + 0.5 / FPS), rest


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


def _progress(event: dict) -> None:
    print(json.dumps(event), file=sys.stderr, flush=True)


def aperture_section(
    portraits: list[tuple[str, str, int]],
    voices: list[str],
    texts: list[str],
    mesh,
    with_text: bool = False,
    parts: str = "both",
) -> dict:
    """Per portrait and voice: the aperture (mm) and the opening beyond the portrait's own aperture at rest (a
    smile's parted lips); per portrait pooled, with the median aperture per viseme; the loudness check on the first
    portrait. ``with_text``: lips from the lines' transcript instead of recognized phones."""
    text = " ".join(texts) if with_text else None
    folder = os.path.join(tempfile.gettempdir(), "posetalk-eval-speech")
    os.makedirs(folder, exist_ok=True)
    result: dict = {"voices": voices, "phones": "transcript" if with_text else "recognized", "per_portrait": {}}
    for label, path, size in portraits if parts != "loudness" else []:
        r = Renderer(path, size=size, device="cpu")
        box = face_box(r)
        entry: dict = {"ipd_px": round(r.refiner.mm * IPD_MM, 1), "per_voice": {}}
        mms, shapes, rest = [], [], 0.0
        for voice in voices:
            clip, _spans = speech_clip(voice, texts, folder)
            mm, _t, shape, rest = aperture_track(r, mesh, clip, box, text)
            entry["per_voice"][voice] = {"aperture": _stats(mm), "opening": _stats(mm - rest)}
            _progress({"portrait": label, "voice": voice, **entry["per_voice"][voice]})
            mms.append(mm)
            shapes.append(shape)
        mm, shape = np.concatenate(mms), np.concatenate(shapes)
        entry["rest_mm"] = round(rest, 2)
        entry["aperture"] = _stats(mm)
        entry["opening"] = _stats(mm - rest)
        entry["opening_median_per_viseme"] = {
            v: round(float(np.nanmedian(mm[shape == v] - rest)), 1) for v in "ABCDEFGHX" if (shape == v).sum() >= 5
        }
        result["per_portrait"][label] = entry
    if parts == "portraits":
        return result
    # loudness: every second line 10 dB louder (the first portrait)
    label, path, size = portraits[0]
    r = Renderer(path, size=size, device="cpu")
    box = face_box(r)
    loud, quiet = [], []
    for voice in voices:
        gains = [10.0 if i % 2 else 0.0 for i in range(len(texts))]
        clip, spans = speech_clip(voice, texts, folder, gains)
        mm, t, _shape, rest = aperture_track(r, mesh, clip, box, text)
        for i, (a, b) in enumerate(spans):
            sel = (t >= a) & (t <= b)
            (loud if i % 2 else quiet).append(mm[sel] - rest)
    result["loudness"] = {"portrait": label, "opening_louder_lines_10db": _stats(np.concatenate(loud)),
                          "opening_other_lines": _stats(np.concatenate(quiet))}  # fmt: skip
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default=str(ROOT / "examples" / "portrait.png"))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--skip-aperture", action="store_true", help="leave out the (slow) speech aperture measurement")
    ap.add_argument(
        "--voices",
        choices=["eval", "tune"],
        default="eval",
        help="the evaluation voices and lines (default) or the ones the calibration was tuned on",
    )
    ap.add_argument("--aperture-only", action="store_true", help="only the speech aperture measurement")
    ap.add_argument("--voice", action="append", help="only this voice of the set (repeatable), e.g. piper:joe")
    ap.add_argument("--lines", type=int, default=None, help="only the first N lines of the set")
    ap.add_argument("--parts", choices=["both", "portraits", "loudness"], default="both",
                    help="of the aperture measurement: per portrait, the loudness check (first portrait), or both")  # fmt: skip
    ap.add_argument("--with-text", action="store_true", help="lips from the lines' transcript (not recognized)")
    ap.add_argument("--portraits", default=",".join(PORTRAITS), help=f"some of {','.join(PORTRAITS)}")
    args = ap.parse_args()
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True)
    out: dict = {"image": str(args.image), "size": args.size}
    if not args.aperture_only:
        out.update(renderer_section(args.image, args.size, mesh))
        _progress(out)
    if not args.skip_aperture:
        folder = os.path.join(tempfile.gettempdir(), "posetalk-eval-speech")
        os.makedirs(folder, exist_ok=True)
        paths = {"closed_lips": (closed_lips(), 512), "toothy_smile": (TOOTHY, 512),
                 "small_face_wide": (small_face_wide(folder), 768)}  # fmt: skip
        portraits = [(name, *paths[name]) for name in args.portraits.split(",")]
        voices, texts = (EVAL_VOICES, EVAL_TEXTS) if args.voices == "eval" else (TUNE_VOICES, TUNE_TEXTS)
        voices = [v for v in voices if v in args.voice] if args.voice else voices
        texts = texts[: args.lines] if args.lines else texts
        out["aperture_mm"] = aperture_section(portraits, voices, texts, mesh, args.with_text, args.parts)
        # the lips' aperture as the viewer sees it, a smile's parted lips at rest included, on every portrait
        out["aperture_pass"] = args.parts != "loudness" and all(
            6.0 <= e["aperture"]["p90"] <= 16.0 and e["aperture"]["max"] <= 22.0
            for e in out["aperture_mm"]["per_portrait"].values()
        )
    print(json.dumps(out, indent=1))


def renderer_section(image: str, size: int, mesh) -> dict:
    """Pose error, mouth correlation, jitter and SSIM on one portrait."""
    args = argparse.Namespace(image=image, size=size)
    r = Renderer(args.image, size=args.size, device="cpu")
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
        "render_size": [r.width, r.height],
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
        "targets": {
            "pose_error_deg": 2.0,
            "mouth_corr": 0.9,
            "ssim": 0.95,
            "jitter_px": 0.3,
            "aperture_p90_mm": [6.0, 16.0],
            "aperture_max_mm": 22.0,
        },
    }
    out["pass"] = bool(pose_err["mean"] <= 2.0 and corr >= 0.9 and out["ssim_neutral"] >= 0.95 and still_jitter <= 0.3)
    return out


if __name__ == "__main__":
    main()
