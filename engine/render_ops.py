"""The ``render`` op (portrait + pose + lips → PNG frames, optional MP4) and ``animate`` (pose, or capture from a
pose video, + lips + render)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np

from .audio import frame_count, load_audio, probe
from .capture_ops import capture_op
from .errors import BadInput, EngineError
from .espeak import check_language
from .formats import check_output_path, lips_document, pose_document, read_lips, read_pose, write_json_atomic
from .jobs import Job
from .lips_ops import lips_op
from .params import OPS, PROMPT, check
from .pose_ops import pose_op
from .video import probe as probe_video

PATTERN = "frame_%05d.png"
PNG_LEVEL = 1  # fast PNG compression: frames are intermediate files


def _existing_file(path: str | None, what: str) -> str | None:
    """``path`` absolute, or BadInput when no such file exists (None stays None)."""
    if path is None:
        return None
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise BadInput(f"{what} file not found: {path}")
    return path


def _resample(values: np.ndarray, src_fps: float, dst_fps: float, n: int) -> np.ndarray:
    """Channels sampled at ``src_fps`` → ``n`` frames at ``dst_fps`` (linear in time, held at the ends)."""
    if abs(src_fps - dst_fps) < 1e-6:
        return values
    t_src = np.arange(len(values)) / src_fps
    t_dst = np.arange(n) / dst_fps
    return np.stack([np.interp(t_dst, t_src, values[:, j], right=0.0) for j in range(values.shape[1])], axis=1)


def _write_png(path: str, frame: np.ndarray) -> None:
    code = cv2.COLOR_RGBA2BGRA if frame.shape[2] == 4 else cv2.COLOR_RGB2BGR
    if not cv2.imwrite(path, cv2.cvtColor(frame, code), [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL]):
        raise EngineError(f"could not write {path}")


@contextmanager
def _cpu_threads(device: str) -> Iterator[None]:
    """On CPU, leave one core to the PNG writer thread: synthesis and writing then run side by side instead of
    fighting over every core (which on a busy 2-core machine slows both down several times)."""
    import torch  # noqa: PLC0415

    before = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(max(1, min(before, (os.cpu_count() or 2) - 1)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _write_chunk(chunk: np.ndarray, folder: str, first: int) -> None:
    for i, frame in enumerate(chunk):
        _write_png(os.path.join(folder, PATTERN % (first + i)), frame)


def _write_frames(frames: Iterator[np.ndarray], folder: str, n: int, job: Job) -> None:
    """Write batches of frames as PNGs, one batch on a writer thread while the next is synthesized."""
    done = written = 0

    def report() -> None:
        nonlocal written
        pending.result()
        for k in range(written + 1, done + 1):
            job.progress(k, n, f"rendered frame {k}/{n}")
        written = done

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        try:
            for chunk in frames:
                if pending is not None:
                    report()
                pending = pool.submit(_write_chunk, chunk, folder, done + 1)
                done += len(chunk)
            if pending is not None:
                report()
        finally:
            if pending is not None:
                pending.exception()  # let a running write finish before the folder is removed


def encode_video(frames_dir: str, fps: float, out: str, audio: str | None, job: Job) -> None:
    """PNG frames → H.264 yuv420p MP4 (+ AAC audio), written atomically; ffmpeg is stopped at once on cancel."""
    ffmpeg = _ffmpeg()
    tmp = os.path.join(os.path.dirname(out), f".posetalk-{os.getpid()}-{os.path.basename(out)}")
    cmd = [ffmpeg, "-y", "-nostdin", "-v", "error", "-framerate", f"{fps:g}", "-i", os.path.join(frames_dir, PATTERN)]
    if audio:
        cmd += ["-i", audio, "-map", "0:v", "-map", "1:a", "-c:a", "aac", "-b:a", "160k", "-shortest"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", "-preset", "veryfast"]
    cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-movflags", "+faststart", "-f", "mp4", tmp]
    try:
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
            try:
                while proc.poll() is None:
                    job.check()  # a cancellation point every 0.1 s while ffmpeg encodes
                    time.sleep(0.1)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            errors.seek(0)
            lines = errors.read().decode(errors="replace").strip().splitlines()
        if proc.returncode != 0:
            raise EngineError(f"ffmpeg failed: {lines[-1] if lines else f'exit code {proc.returncode}'}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _ffmpeg() -> str:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise BadInput("ffmpeg is not installed: it is needed to write the video")
    return ffmpeg


def _load_lips(source: Any, fps: float, n: int) -> tuple[np.ndarray | None, list[str] | None, list[dict] | None]:
    """Channels resampled to the pose's frames, their names, and the visemes (seconds; the tongue) if any."""
    if source in (None, ""):
        return None, None, None
    lips, channels, lips_fps, doc = read_lips(source)
    visemes = doc.get("visemes")
    return _resample(lips, lips_fps, fps, n), channels, visemes if isinstance(visemes, list) else None


def render_op(params: dict[str, Any], job: Job) -> dict[str, Any]:
    """Params: engine.params.OPS["render"]. Returns frames_dir, pattern, n_frames, fps, video, width, height."""
    p = check("render", params)
    image = _existing_file(p["image"], "image")
    audio = _existing_file(p["audio"], "audio")
    pose, fps, _doc = read_pose(p["pose"])
    if len(pose) == 0:
        raise BadInput("the pose has no frames")
    n = len(pose)
    lips, channels, visemes = _load_lips(p["lips"], fps, n)
    out = os.path.abspath(os.fspath(p["out"]))
    if os.path.exists(out) and not os.path.isdir(out):
        raise BadInput(f"output path is not a folder: {out}")
    parent = os.path.dirname(out)
    if not os.path.isdir(parent):
        what = "is a file, not a folder" if os.path.exists(parent) else "does not exist"
        raise BadInput(f"output folder's parent {what}: {parent}")
    video = check_output_path(p["video"]) if p["video"] else None
    if video:
        if not video.lower().endswith((".mp4", ".m4v", ".mov")):
            raise BadInput(f"video must be an .mp4 file: {video}")
        _ffmpeg()
        if audio:
            probe(audio)  # the audio is muxed at the end: refuse an unreadable file before rendering

    job.progress(0, n, "loading the portrait")
    with job.preparing():  # torch and the face mesh load in native code: a cancel meanwhile is answered at once
        from .render import get_renderer  # noqa: PLC0415 (torch and mediapipe load only when rendering)

        renderer = get_renderer(image, size=p["size"], device=p["device"], face=p["face"], cache_dir=p["cache_dir"])
    created = not os.path.isdir(out)
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".posetalk-render-", dir=out)
    wrote_video = finished = False
    try:
        frames = renderer.render(
            pose, lips, channels, fps, blinks=p["blinks"], seed=p["seed"], batch=p["batch"], visemes=visemes
        )
        with _cpu_threads(renderer.device.type):
            _write_frames(frames, tmp, n, job)
        if video:
            job.progress(n, n, "encoding the video")
            encode_video(tmp, fps, video, audio, job)
            wrote_video = True
            job.check()
        for old in glob.glob(os.path.join(out, "frame_*.png")):  # an earlier render's frames are replaced
            os.unlink(old)
        for i in range(1, n + 1):
            os.replace(os.path.join(tmp, PATTERN % i), os.path.join(out, PATTERN % i))
        finished = True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not finished:  # failed or cancelled: leave nothing behind
            if wrote_video and os.path.exists(video):
                os.unlink(video)
            if created and not os.listdir(out):
                os.rmdir(out)
    return {
        "frames_dir": out,
        "pattern": PATTERN,
        "n_frames": n,
        "fps": fps,
        "video": video,
        "width": renderer.width,
        "height": renderer.height,
    }


def _fit_length(frames: np.ndarray, n: int) -> np.ndarray:
    """``frames`` cut or extended to ``n`` frames (the last frame held: nothing is invented)."""
    if len(frames) >= n:
        return frames[:n]
    return np.concatenate([frames, np.repeat(frames[-1:], n - len(frames), axis=0)])


def _motion_from_video(p: dict[str, Any], n: int, job: Job) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Pose (and with ``mouth_from_video`` the lips and blinks) for ``n`` frames from animate's pose video."""
    duration = n / p["fps"]
    params = {
        "video": p["pose_video"], "fps": p["fps"], "start": p["pose_video_start"], "duration": duration,
        "face": p["pose_video_face"], "strength": p["strength"], "smoothing": p["smoothing"],
    }  # fmt: skip
    flags = {"video": "--pose-video", "start": "--pose-video-start", "face": "--pose-video-face"}
    res = capture_op(params, job, flags)
    pose_doc, lips_doc = res["pose"], res["lips"]
    held = max(0, n - len(pose_doc["frames"]))
    meta = {**pose_doc["meta"], "held_frames": held} if held else pose_doc["meta"]
    pose = pose_document(_fit_length(np.array(pose_doc["frames"]), n), p["fps"], meta)
    lips = None
    if p["mouth_from_video"]:
        frames = _fit_length(np.array(lips_doc["frames"]), n)
        lips = lips_document(frames, lips_doc["channels"], p["fps"], meta=dict(meta))
    return pose, lips


def animate_op(params: dict[str, Any], job: Job) -> dict[str, Any]:
    """Params: engine.params.OPS["animate"]. Runs pose (or capture from ``pose_video``), lips and render; returns
    video, n_frames, fps (and the paths of the pose.json and lips.json it wrote when ``pose_out``/``lips_out``
    are given: after the video, so a failed job writes none of them)."""
    p = check("animate", params)
    if p["mouth_from_video"] and not p["pose_video"]:
        raise BadInput("--mouth-from-video takes the mouth from the pose video: give --pose-video too")
    if not p["pose_video"] and not p["prompt"]:
        raise BadInput(f"{PROMPT.missing} (or take the motion from a video with --pose-video)")
    image = _existing_file(p["image"], "image")
    audio = _existing_file(p["audio"], "audio")
    video = check_output_path(p["out"])
    if not video.lower().endswith((".mp4", ".m4v", ".mov")):
        raise BadInput(f"out must be an .mp4 file: {video}")
    docs_out = {key: check_output_path(p[key]) for key in ("pose_out", "lips_out") if p[key]}
    if len({video, *docs_out.values()}) != 1 + len(docs_out):
        raise BadInput("out, pose_out and lips_out must be different files")
    # every input checked before the heavy work: the language, the audio readable, a face in the portrait, ffmpeg
    check_language(p["language"])
    _ffmpeg()
    probe(audio)
    if p["pose_video"]:  # readable, with a video stream (capture checks the rest before it decodes)
        probe_video(p["pose_video"])
    job.progress(0, 1000, "finding the face")
    with job.preparing():  # kept for the render step
        from .render import get_renderer  # noqa: PLC0415 (torch and mediapipe load only when rendering)

        get_renderer(image, size=p["size"], device=p["device"], face=p["face"], cache_dir=p["cache_dir"])
    lips_names = {"audio", "fps", "audio_offset", "audio_duration", "text", "language"}
    lips_res: dict[str, Any] = {}
    if p["pose_video"]:
        if p["mouth_from_video"]:  # the audio only sets the length
            _samples, seconds = load_audio(audio, job.sub(0.0, 0.02), p["audio_offset"], p["audio_duration"])
            lips_doc = None
            n = frame_count(seconds, p["fps"])
        else:
            lips_res = lips_op({k: v for k, v in p.items() if k in lips_names}, job.child(0.0, 0.1))
            lips_doc = lips_res["lips"]
            n = len(lips_doc["frames"])
        pose_doc, video_lips = _motion_from_video(p, n, job.child(0.1, 0.3))
        lips_doc = video_lips or lips_doc
        render_share = 0.3
    else:
        pose_names = {q.name for q in OPS["pose"]} - {"out", "pins"}
        pose_doc = pose_op({k: v for k, v in p.items() if k in pose_names}, job.child(0.0, 0.1))["pose"]
        lips_res = lips_op({k: v for k, v in p.items() if k in lips_names}, job.child(0.1, 0.2))
        lips_doc = lips_res["lips"]
        render_share = 0.2
    with tempfile.TemporaryDirectory(prefix=".posetalk-animate-", dir=os.path.dirname(video)) as tmp:
        render_params = {
            "image": image,
            "audio": audio,
            "pose": pose_doc,
            "lips": lips_doc,
            "size": p["size"],
            "face": p["face"],
            "device": p["device"],
            "seed": p["seed"],
            "blinks": p["blinks"],
            "cache_dir": p["cache_dir"],
            "out": os.path.join(tmp, "frames"),
            "video": video,
        }
        res = render_op(render_params, job.child(render_share, 1.0))
    if "pose_out" in docs_out:
        write_json_atomic(docs_out["pose_out"], pose_doc)
    if "lips_out" in docs_out and lips_doc is not None:
        write_json_atomic(docs_out["lips_out"], lips_doc)
    job.progress(1000, 1000, "done")
    result = {"video": video, "n_frames": res["n_frames"], "fps": res["fps"], "lips": True,
              "width": res["width"], "height": res["height"], "pose_path": docs_out.get("pose_out"),
              "lips_path": docs_out.get("lips_out"), "pose_source": "video" if p["pose_video"] else "prompt",
              "mouth_source": "video" if p["mouth_from_video"] else "audio"}  # fmt: skip
    if lips_res.get("warning"):
        result["warning"] = lips_res["warning"]
    return result
