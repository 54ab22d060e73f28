"""Measure capture (``python -m engine capture``) against known motion; prints JSON.

1. closed loop: examples/portrait.png and a photo (Grace Hopper) rendered by the engine with a known pose (yaw and
   pitch up to ±20°, roll up to ±15°, moves and size changes), mouth (engine lips on examples/speech.wav) and
   blinks, encoded to MP4 and captured back for that portrait (``--image``: its own pose and its lips' rest gap).
   Targets: mean angle error ≤ 1.0° per axis, mouth_open correlation ≥ 0.9, ≥ 90 % of the blinks found and no
   false ones. Then the same with three other motions of that kind (``other_motions``: random frequencies and
   phases, seeds 1-3; the renderer's turn measurement, engine/render/turns.py, took its form with these in view).
2. affine: a real photo moved by ffmpeg's own filters (rotate, scale, pad with expressions in t), independent of
   the renderer. Targets: roll error ≤ 0.5° mean, scale error ≤ 1 %, x and y correlation ≥ 0.98.
3. still: the photo held still (exactly, and with a webcam's temporal noise). Target: std of each angle ≤ 0.1°.
4. step: a sudden roll (ffmpeg) must come out without lag: the half-way crossing within 1 frame of the step.
5. calibration: one speech video (a portrait rendered speaking with engine lips): the captured mouth channels
   against the lips channels that drew it (correlation, percentiles, least-squares gain).
6. speed: capture of a 640-px video, frames per second (median of 3 runs), with the shares of decoding (ffmpeg
   alone) and the face mesh. Target ≥ 25 frames/s on 2 cores.
7. memory: peak memory (VmHWM) of capture in a fresh process, for a 1-minute and a 1-hour video.

Usage: ``python scripts/eval_capture.py [--only closed_loop,affine,...] [--out result.json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.capture import PASSES  # noqa: E402
from engine.capture_ops import capture_op  # noqa: E402
from engine.denoise import step_delay  # noqa: E402
from engine.headpose import pivot_of  # noqa: E402
from engine.jobs import Job  # noqa: E402
from engine.render.face import face_mesh, faces_of  # noqa: E402

PORTRAIT = ROOT / "examples" / "portrait.png"
SPEECH = ROOT / "examples" / "speech.wav"
PHOTO = Path(np.__file__).parents[1] / "matplotlib" / "mpl-data" / "sample_data" / "grace_hopper.jpg"
FPS = 25.0


def encode(frames: np.ndarray | Callable, out: Path, fps: float = FPS, n: int | None = None) -> Path:
    """RGB frames (n, H, W, 3) (or a generator of batches) → H.264 MP4 as a camera would deliver it."""
    first = frames if isinstance(frames, np.ndarray) else None
    batches = [frames] if first is not None else frames()
    part = out.with_name(f"{out.stem}.partial{out.suffix}")
    proc = None
    for batch in batches:
        if proc is None:
            h, w = batch.shape[1:3]
            cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}"]
            cmd += ["-r", f"{fps}", "-i", "-", "-c:v", "libx264", "-crf", "18", "-preset", "veryfast"]
            cmd += ["-pix_fmt", "yuv420p", str(part)]
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        proc.stdin.write(np.ascontiguousarray(batch[..., :3]).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit(f"ffmpeg could not write {out}")
    part.replace(out)
    return out


def make(out: Path, cmd: list[str]) -> Path:
    """Run ffmpeg ``cmd`` (all but its output file) to write ``out``, unless a complete one is there (--work)."""
    if out.exists() and out.stat().st_size > 0:
        return out
    part = out.with_name(f"{out.stem}.partial{out.suffix}")
    subprocess.run([*cmd, str(part)], check=True)
    part.replace(out)
    return out


def capture(video: Path, **params) -> dict:
    return capture_op({"video": str(video), **params}, Job())


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def blink_events(curve: np.ndarray, threshold: float = 0.5) -> list[float]:
    """Centres (frames) of the blinks in a 0..1 eyelid curve."""
    return [(a + b - 1) / 2 for a, b in runs(curve > threshold)]


def match_blinks(truth: list[float], got: list[float], tolerance: float = 2.0) -> dict:
    unmatched = list(got)
    found = 0
    for t in truth:
        near = [g for g in unmatched if abs(g - t) <= tolerance]
        if near:
            unmatched.remove(min(near, key=lambda g: abs(g - t)))
            found += 1
    return {"blinks": len(truth), "found": found, "false": len(unmatched), "found_share": found / max(1, len(truth))}


AMPLITUDES = ((14, 6), (15, 5), (11, 4))  # pitch and yaw up to ±20, roll up to ±15: two sines each
OTHER_MOTIONS = (1, 2, 3)  # seeds of the closed loop's further motions


def truth_pose(n: int, fps: float = FPS, seed: int | None = None) -> np.ndarray:
    """The known head motion of the closed loop: each axis a sum of two slow sines, zero at the start. ``seed``:
    another motion of the same kind (sines of random frequencies and phases, shifted to start at zero and scaled
    to the same largest angle)."""
    t = np.arange(n) / fps
    pose = np.zeros((n, 6))
    if seed is None:
        freqs = ((0.23, 0.61), (0.17, 0.53), (0.29, 0.71))
        for k, ((a1, a2), (f1, f2)) in enumerate(zip(AMPLITUDES, freqs)):
            pose[:, k] = a1 * np.sin(2 * np.pi * f1 * t) + a2 * np.sin(2 * np.pi * f2 * t)
    else:
        rng = np.random.default_rng(seed)
        for k, (a1, a2) in enumerate(AMPLITUDES):
            f1, f2 = rng.uniform(0.12, 0.35), rng.uniform(0.4, 0.8)
            ph1, ph2 = rng.uniform(0, 2 * np.pi, 2)
            axis = a1 * np.sin(2 * np.pi * f1 * t + ph1) + a2 * np.sin(2 * np.pi * f2 * t + ph2)
            axis -= axis[0]
            pose[:, k] = axis * (a1 + a2) / max(1e-6, float(np.abs(axis).max()))
    pose[:, 3] = 0.06 * np.sin(2 * np.pi * 0.21 * t)
    pose[:, 4] = 0.04 * np.sin(2 * np.pi * 0.27 * t)
    pose[:, 5] = 1 + 0.06 * np.sin(2 * np.pi * 0.19 * t)
    return pose


def static_reading(video: Path, n: int) -> np.ndarray:
    """The pose of every frame read alone by the face mesh (a detector crop per frame, no tracking, no filter),
    against frame 0: what the renderer's own evaluation (scripts/eval_render.py) measures."""
    from engine.headpose import head_pose  # noqa: PLC0415
    from engine.video import FrameStream, probe  # noqa: PLC0415

    info = probe(str(video))
    out = []
    with face_mesh(static=True, max_faces=1) as mesh, FrameStream(info, FPS) as stream:
        for frame in stream:
            faces = faces_of(mesh.process(frame), (info.out_width, info.out_height))
            out.append(faces[0] if faces else np.full((478, 3), np.nan))
    ref = out[0]
    return np.array([head_pose(ref, lm) for lm in out[:n]])


def closed_loop(tmp: Path, size: int = 512) -> dict:
    """Both portraits rendered with known pose, mouth and blinks, captured back; then with further motions."""
    out = loop_motion(tmp, None, size)
    out["targets"] = {"angle_error_deg": 1.0, "mouth_open_corr": 0.9, "blinks_found": 0.9, "false_blinks": 0}
    out["other_motions"] = {}
    for seed in OTHER_MOTIONS:
        other = loop_motion(tmp, seed, size)
        out["other_motions"][str(seed)] = {
            label: {k: item[k] for k in ("angle_error_deg", "angle_gain", "pass")} for label, item in other.items()
        }
    return out


def loop_motion(tmp: Path, seed: int | None, size: int) -> dict:
    """The closed loop of both portraits for the motion ``truth_pose(seed=seed)``."""
    n_speech = None
    out = {}
    for label, image in (("portrait", PORTRAIT), ("grace_hopper", PHOTO)):
        pose = truth_pose(2000, seed=seed)
        name = f"closed_loop_{label}.mp4" if seed is None else f"closed_loop_{label}_motion{seed}.mp4"
        v = speech_render(image, pose, tmp / name, blink_seed=5, size=size)
        n_speech = v["n"]
        pose, mouth, blink = v["pose"], v["mouth"], v["blink"]
        res = capture(v["video"], image=str(image))  # as a performance for this portrait: its pose, its mouth
        got = np.array(res["pose"]["frames"])
        lips = np.array(res["lips"]["frames"])
        m = min(len(got), n_speech)
        err = np.abs(got[:m] - pose[:m])
        floor = np.abs(static_reading(v["video"], m)[:, :3] - pose[:m, :3])
        gains = [float(np.polyfit(pose[:m, k], got[:m, k], 1)[0]) for k in range(3)]
        item = {
            "frames": m,
            "size": size,
            "angle_error_deg": dict(zip(("pitch", "yaw", "roll"), np.round(err[:, :3].mean(0), 3).tolist())),
            "angle_error_max_deg": round(float(err[:, :3].max()), 2),
            "angle_gain": dict(zip(("pitch", "yaw", "roll"), np.round(gains, 3).tolist())),
            "single_frame_reading_error_deg": dict(zip(("pitch", "yaw", "roll"), np.round(floor.mean(0), 3).tolist())),
            "xy_error_face_heights": np.round(err[:, 3:5].mean(0), 4).tolist(),
            "scale_error": round(float(err[:, 5].mean()), 4),
            "mouth_open_corr": round(float(np.corrcoef(lips[:m, 0], mouth[:m, 0])[0, 1]), 3),
            "blinks": match_blinks(blink_events(blink[:m]), blink_events(lips[:m, 4])),
            "face_found": res["face_found"],
        }
        item["pass"] = bool(
            max(item["angle_error_deg"].values()) <= 1.0
            and item["mouth_open_corr"] >= 0.9
            and item["blinks"]["found_share"] >= 0.9
            and item["blinks"]["false"] == 0
        )
        out[label] = item
    return out


# ----- the photo moved by ffmpeg -----
AFFINE_CANVAS = 640
AFFINE_BASE = (400, 468)  # the photo's size before the per-frame scale
AFFINE_PAD = 900  # the photo is centred on a canvas this large, then a moving window of AFFINE_CANVAS is cut out


def affine_truth(t: np.ndarray) -> dict[str, np.ndarray]:
    """The known motion, zero at the start: rotation (radians, clockwise on screen as ffmpeg turns), scale, shift."""
    return {
        "angle": 0.14 * np.sin(2 * np.pi * 0.3 * t) + 0.04 * np.sin(2 * np.pi * 0.9 * t),
        "scale": 1 + 0.08 * np.sin(2 * np.pi * 0.2 * t) + 0.03 * np.sin(2 * np.pi * 0.7 * t),
        "dx": 50 * np.sin(2 * np.pi * 0.25 * t),
        "dy": 35 * np.sin(2 * np.pi * 0.35 * t),
    }


AFFINE_EXPR = {  # the same motion as ffmpeg expressions in t
    "angle": "(0.14*sin(2*PI*0.3*t)+0.04*sin(2*PI*0.9*t))",
    "scale": "(1+0.08*sin(2*PI*0.2*t)+0.03*sin(2*PI*0.7*t))",
    "dx": "(50*sin(2*PI*0.25*t))",
    "dy": "(35*sin(2*PI*0.35*t))",
}


def affine_video(tmp: Path, seconds: float = 12.0) -> Path:
    from PIL import Image  # noqa: PLC0415

    base = tmp / "photo_base.png"
    Image.open(PHOTO).convert("RGB").resize(AFFINE_BASE, Image.LANCZOS).save(base)
    e, c, m = AFFINE_EXPR, AFFINE_CANVAS, (AFFINE_PAD - AFFINE_CANVAS) // 2
    chain = (
        f"format=rgb24,scale=w='2*trunc(iw*{e['scale']}/2)':h='2*trunc(ih*{e['scale']}/2)':eval=frame,"
        f"pad=w={AFFINE_PAD}:h={AFFINE_PAD}:x='(ow-iw)/2':y='(oh-ih)/2':color=gray:eval=frame,"
        f"crop=w={c}:h={c}:x='trunc({m}-{e['dx']})':y='trunc({m}-{e['dy']})',"  # the window moves: the photo shifts
        f"rotate=a='{e['angle']}':c=gray,format=yuv420p"
    )
    cmd = ["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", f"{FPS:g}", "-i", str(base), "-t", f"{seconds}"]
    cmd += ["-vf", chain, "-c:v", "libx264", "-crf", "18", "-preset", "veryfast"]
    return make(tmp / "affine.mp4", cmd)


def affine_mapping(t: float) -> tuple[np.ndarray, np.ndarray]:
    """The 2-D map of frame ``t``: photo pixel p → canvas pixel A @ p + b (sizes rounded as ffmpeg rounds them)."""
    m = {k: float(v[0]) for k, v in affine_truth(np.array([t])).items()}
    bw, bh = AFFINE_BASE
    w, h = 2 * math.trunc(bw * m["scale"] / 2), 2 * math.trunc(bh * m["scale"] / 2)
    margin = (AFFINE_PAD - AFFINE_CANVAS) // 2
    pad = np.array([(AFFINE_PAD - w) // 2, (AFFINE_PAD - h) // 2])
    off = pad - np.array([math.trunc(margin - m["dx"]), math.trunc(margin - m["dy"])])
    a, centre = m["angle"], np.full(2, AFFINE_CANVAS / 2)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])  # clockwise on screen (y down)
    scale = np.diag([w / bw, h / bh])
    return rot @ scale, rot @ (off - centre) + centre


def affine(tmp: Path) -> dict:
    """A real photo moved by ffmpeg's rotate, scale and pad filters with known values: roll, scale, x and y."""
    from engine.capture import channels, track_video  # noqa: PLC0415
    from engine.video import probe  # noqa: PLC0415

    video = affine_video(tmp)
    track = track_video(probe(str(video)), FPS)
    got = channels(track).pose
    n = len(got)
    t = np.arange(n) / FPS
    truth = affine_truth(t)
    pivot, face_h = pivot_of(track.landmarks[track.anchor])  # where the capture turns and moves the head
    a0, b0 = affine_mapping(0.0)
    photo_pivot = np.linalg.solve(a0, pivot[:2] - b0)
    moved = np.array([a @ photo_pivot + b for a, b in (affine_mapping(x) for x in t)])
    x_true, y_true = (moved[:, 0] - moved[0, 0]) / face_h, -(moved[:, 1] - moved[0, 1]) / face_h
    scale_true = np.array([np.sqrt(abs(np.linalg.det(affine_mapping(x)[0]))) for x in t]) / np.sqrt(
        abs(np.linalg.det(a0))
    )
    roll_true = -np.degrees(truth["angle"])  # roll > 0 is counter-clockwise; ffmpeg turns clockwise for a > 0
    out = {
        "frames": n,
        "roll_error_deg": round(float(np.abs(got[:, 2] - roll_true).mean()), 3),
        "roll_range_deg": [round(float(roll_true.min()), 1), round(float(roll_true.max()), 1)],
        "scale_error": round(float(np.abs(got[:, 5] / scale_true - 1).mean()), 4),
        "x_corr": round(float(np.corrcoef(got[:, 3], x_true)[0, 1]), 4),
        "y_corr": round(float(np.corrcoef(got[:, 4], y_true)[0, 1]), 4),
        "xy_error_face_heights": [
            round(float(np.abs(got[:, 3] - x_true).mean()), 4),
            round(float(np.abs(got[:, 4] - y_true).mean()), 4),
        ],  # fmt: skip
        "pitch_yaw_std_deg": np.round(got[:, :2].std(0), 3).tolist(),  # a flat photo: no nods or turns
        "targets": {"roll_error_deg": 0.5, "scale_error": 0.01, "xy_corr": 0.98},
    }
    out["pass"] = bool(
        out["roll_error_deg"] <= 0.5 and out["scale_error"] <= 0.01 and min(out["x_corr"], out["y_corr"]) >= 0.98
    )
    return out


def still(tmp: Path) -> dict:
    """A still photo as a video (and the same with a webcam's temporal noise): the std of each captured angle."""
    from engine.capture import channels, track_video  # noqa: PLC0415
    from engine.video import probe  # noqa: PLC0415

    out = {}
    for label, image, noise in (
        ("grace_hopper", PHOTO, 0),
        ("portrait", PORTRAIT, 0),
        ("grace_hopper_noise", PHOTO, 4),
    ):
        vf = "scale=640:-2" + (f",noise=alls={noise}:allf=t" if noise else "") + ",format=yuv420p"
        cmd = ["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", f"{FPS:g}", "-i", str(image), "-t", "10"]
        video = make(tmp / f"still_{label}.mp4", [*cmd, "-vf", vf, "-c:v", "libx264", "-crf", "18"])
        track = track_video(probe(str(video)), FPS)
        got = channels(track).pose
        raw = cap_raw_pose(track)
        out[label] = {
            "std_deg": dict(zip(("pitch", "yaw", "roll"), np.round(got[:, :3].std(0), 3).tolist())),
            "std_unfiltered_deg": dict(zip(("pitch", "yaw", "roll"), np.round(np.nanstd(raw[:, :3], 0), 3).tolist())),
            "sensor_noise": f"ffmpeg noise=alls={noise}:allf=t" if noise else "none",
        }
    out["target_std_deg"] = 0.1
    out["pass"] = bool(
        max(max(v["std_deg"].values()) for k, v in out.items() if k in ("grace_hopper", "portrait")) <= 0.1
    )
    return out


def cap_raw_pose(track) -> np.ndarray:
    from engine.capture import corrected_pose  # noqa: PLC0415

    return corrected_pose(track)[0]


def step(tmp: Path) -> dict:
    """A sudden roll of 8° (ffmpeg rotate) must come out where it happens: the half-way crossing within 1 frame."""
    from engine.capture import channels, track_video  # noqa: PLC0415
    from engine.video import probe  # noqa: PLC0415

    out = {}
    for label, angle in (("roll_8deg", 0.14), ("roll_3deg", 0.05)):
        vf = f"scale=640:-2,format=rgb24,rotate=a='if(gte(t,2),{angle},0)':c=gray,format=yuv420p"
        cmd = ["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", f"{FPS:g}", "-i", str(PHOTO), "-t", "4"]
        video = make(tmp / f"step_{label}.mp4", [*cmd, "-vf", vf, "-c:v", "libx264", "-crf", "18"])
        roll = -channels(track_video(probe(str(video)), FPS)).pose[:, 2]
        out[label] = {"delay_frames": round(float(step_delay(roll, 49.5)), 3),
                      "step_deg": round(float(roll[-10:].mean() - roll[:10].mean()), 2)}  # fmt: skip
    out["target_delay_frames"] = 1.0
    out["pass"] = bool(all(abs(v["delay_frames"]) <= 1.0 for k, v in out.items() if k.startswith("roll")))
    return out


def speed(tmp: Path, runs: int = 3) -> dict:
    """Capture of the 640-px affine video: frames per second (median of ``runs``), and where the time goes."""
    import resource  # noqa: PLC0415

    from engine.capture import channels, track_video  # noqa: PLC0415
    from engine.video import FrameStream, probe  # noqa: PLC0415

    video = affine_video(tmp)
    info = probe(str(video))
    decode, total, mesh, wait, ffmpeg_cpu = [], [], [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        with FrameStream(info, FPS) as stream:
            n = sum(1 for _frame in stream)
        decode.append(n / (time.perf_counter() - t0))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        track = track_video(info, FPS)
        channels(track)
        seconds = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        total.append(track.n / seconds)
        mesh.append(track.seconds["face_mesh"] / seconds)
        wait.append(track.seconds["waiting_for_frames"] / seconds)
        ffmpeg_cpu.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / seconds)
    load = os.getloadavg()[0]
    return {
        "video": f"{info.out_width}x{info.out_height}, {n} frames",
        "frames_per_second": round(statistics.median(total), 1),
        "frames_per_second_runs": [round(x, 1) for x in total],
        "decode_alone_frames_per_second": round(statistics.median(decode), 1),
        "share_in_face_mesh": round(statistics.median(mesh), 3),
        "share_waiting_for_decoded_frames": round(statistics.median(wait), 3),
        "ffmpeg_cpu_cores_busy": round(statistics.median(ffmpeg_cpu), 2),
        "face_mesh_passes_per_frame": PASSES,
        "cores": os.cpu_count(),
        "load_average_1min": round(load, 2),
        "note": "a shared machine: other jobs ran meanwhile (see the load average); medians of the runs",
        "target_frames_per_second": 25,
        "pass": statistics.median(total) >= 25,
    }


def memory(tmp: Path) -> dict:
    """Peak memory (VmHWM) of capture in a fresh process, for a 1-minute video at its own rate and a 1-hour video at
    5 frames/s (the per-frame cost of what is kept, extrapolated to an hour at 25 frames/s)."""
    out = {}
    code = (
        "import json, resource, sys; from engine.cli import main; rc = main(sys.argv[1:]);"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1];"
        "print(json.dumps({'rc': rc, 'vmhwm_mb': int(hwm) / 1024,"
        "'ffmpeg_maxrss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))"
    )
    for label, seconds, fps in (("1_minute_25fps", 60, 25), ("1_hour_5fps", 3600, 5)):
        vf = "scale=320:-2,format=rgb24,rotate=a='0.1*sin(2*PI*0.2*t)':c=gray,format=yuv420p"
        cmd = ["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", f"{FPS:g}", "-i", str(PHOTO)]
        cmd += ["-t", str(seconds), "-vf", vf, "-c:v", "libx264", "-preset", "ultrafast"]
        video = make(tmp / f"long_{seconds}.mp4", cmd)
        t0 = time.perf_counter()
        args = ["capture", "--video", str(video), "--fps", str(fps), "--out", str(tmp / "long_pose.json")]
        args += ["--lips-out", str(tmp / "long_lips.json")]
        proc = subprocess.run([sys.executable, "-c", code, "-q", *args], cwd=ROOT, capture_output=True, text=True)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        out[label] = {
            "video_seconds": seconds,
            "frames_captured": seconds * fps,
            "vmhwm_mb": round(result["vmhwm_mb"], 1),
            "ffmpeg_maxrss_mb": round(result["ffmpeg_maxrss_mb"], 1),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    a, b = out["1_minute_25fps"], out["1_hour_5fps"]
    per_frame = (b["vmhwm_mb"] - a["vmhwm_mb"]) / (b["frames_captured"] - a["frames_captured"])
    out["mb_per_captured_frame"] = round(per_frame, 5)
    out["extrapolated_1_hour_25fps_mb"] = round(a["vmhwm_mb"] + per_frame * (3600 * 25 - 1500), 1)
    return out


def speech_render(image: Path, pose: np.ndarray | None, out: Path, blink_seed: int = 5, size: int = 512) -> dict:
    """Render ``image`` speaking examples/speech.wav (engine lips) with ``pose`` (None: still) and known blinks."""
    from engine.lips_ops import lips_op  # noqa: PLC0415
    from engine.render import Renderer  # noqa: PLC0415
    from engine.render.renderer import mouth_matrix  # noqa: PLC0415

    lips_doc = lips_op({"audio": str(SPEECH), "fps": FPS}, Job())["lips"]
    mouth = mouth_matrix(np.array(lips_doc["frames"]), lips_doc["channels"], len(lips_doc["frames"]))
    n = len(mouth)
    pose = np.tile([0, 0, 0, 0, 0, 1.0], (n, 1)) if pose is None else pose[:n]
    blink = known_blinks(n, blink_seed)
    if not (out.exists() and out.stat().st_size > 0):
        r = Renderer(str(image), size=size, device="cpu")
        encode(
            lambda: (r.render_batch(pose[i : i + 16], mouth[i : i + 16], blink[i : i + 16]) for i in range(0, n, 16)),
            out,
        )
    return {"video": out, "pose": pose, "mouth": mouth, "blink": blink, "n": n}


def known_blinks(n: int, seed: int, fps: float = FPS) -> np.ndarray:
    """An eyelid curve with a blink every 1.2-2.2 s (the renderer's blink shape, engine.render.blinks)."""
    from engine.render.blinks import blink_curve  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    out = np.zeros(n)
    t = 0.6
    while t < n / fps - 0.4:
        one = blink_curve(n, fps, first=t)
        stop = int(math.ceil((t + 0.3) * fps))
        out[:stop] = np.maximum(out[:stop], one[:stop])
        t += rng.uniform(1.2, 2.2)
    return out


def calibration(tmp: Path) -> dict:
    """A still head talking: how the measurements follow the channels that drew them (sets engine.expression's and
    engine.capture's constants)."""
    from engine import capture as cap  # noqa: PLC0415
    from engine import expression  # noqa: PLC0415
    from engine.video import probe  # noqa: PLC0415

    out = {}
    for label, image in (("grace_hopper", PHOTO), ("portrait", PORTRAIT)):
        v = speech_render(image, None, tmp / f"calibration_{label}.mp4")
        track = cap.track_video(probe(str(v["video"])), FPS)
        m = min(track.n, v["n"])
        pose, gap_ref, _ = cap.raw_pose(track)
        feats = track.features[:m]
        gap = feats[:, 0]
        mouth, blink = v["mouth"][:m], v["blink"][:m]
        ok = track.found[:m]
        coupling = [float(np.polyfit(gap[ok] - gap_ref, pose[:m][ok, c] - (c == 5), 1)[0]) for c in range(6)]
        parted = ok & (mouth[:, 3] < 0.3)
        open_fit = np.polyfit(mouth[parted, 0], gap[parted], 1)
        rest = expression.rest_width(feats[ok])
        design = np.c_[mouth[ok, 1], mouth[ok, 2], mouth[ok, 0], np.ones(ok.sum())]
        spread = np.linalg.lstsq(design, feats[ok, 1] / rest - 1, rcond=None)[0]
        usual = expression.usual_eye_opening(np.where(ok[:, None], feats, np.nan), FPS)
        shut = ok & (blink >= 0.95)
        got = cap.channels(track).lips[:m]
        chans = ("mouth_open", "mouth_wide", "mouth_round", "lips_closed")
        out[label] = {
            "mouth_coupling_per_gap": dict(zip(cap.POSE_CHANNELS, np.round(coupling, 3).tolist())),
            "open_gap": round(float(open_fit[0]), 4),
            "gap_at_mouth_open_0": round(float(open_fit[1]), 4),
            "gap_lips_closed": round(float(np.median(gap[ok & (mouth[:, 3] > 0.9)])), 4),
            "wide_spread": round(float(spread[0]), 4),
            "round_spread": round(float(-spread[1]), 4),
            "open_width": round(float(spread[2]), 4),
            "closed_eye": round(float(np.median(feats[shut, 2] / usual[shut])), 3) if shut.any() else None,
            "corr": {c: round(float(np.corrcoef(got[ok, j], mouth[ok, j])[0, 1]), 3) for j, c in enumerate(chans)},
            "percentiles_10_50_90_max": {
                c: {
                    "lips": np.round(np.percentile(mouth[:, j], [10, 50, 90, 100]), 3).tolist(),
                    "captured": np.round(np.percentile(got[:, j], [10, 50, 90, 100]), 3).tolist(),
                }
                for j, c in enumerate(chans)
            },
            "blinks": match_blinks(blink_events(blink), blink_events(got[:, 4])),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated parts to run (default: all)")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--work", help="keep the test videos in this folder and reuse them (default: a temporary one)")
    args = ap.parse_args()
    parts = {
        "closed_loop": closed_loop,
        "affine": affine,
        "still": still,
        "step": step,
        "calibration": calibration,
        "speed": speed,
        "memory": memory,
    }
    chosen = [p for p in args.only.split(",") if p] or list(parts)
    result = {}
    with tempfile.TemporaryDirectory(prefix="eval-capture-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in chosen:
            t0 = time.perf_counter()
            result[name] = parts[name](work)
            result[name]["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
