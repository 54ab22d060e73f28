"""Video in: probe a file with ffprobe, then stream its frames through one ffmpeg pipe at a constant rate.

Any file ffmpeg reads works, variable frame rate included: ffmpeg's ``fps`` filter resamples the stream to the
requested rate, so frame ``i`` shows what a player shows at ``start + i / fps`` (time from the start of the file).
Frames are scaled to at most :data:`MAX_SIDE` pixels and read one at a time (bounded memory for any length); the
file is decoded once. A stop request kills the ffmpeg child at once, even while it decodes without output (a seek
into a long stretch without keyframes), so a cancel takes effect within a fraction of a second.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .errors import BadInput

MAX_SIDE = 640  # longest side of the decoded frames (the face mesh works on a 192-px crop of the face)
STANDARD_RATES = (23.976, 24.0, 25.0, 29.97, 30.0, 48.0, 50.0, 59.94, 60.0, 90.0, 100.0, 119.88, 120.0)
SNAP_TOLERANCE = 0.02  # a variable-rate phone video averaging 29.6 fps is a 30 fps video
SEEK_MARGIN_S = 1.0
KILL_POLL_S = 0.05  # how often a stop request is looked at while ffmpeg runs


@dataclass(frozen=True)
class VideoInfo:
    """What ffprobe says about a file's first video stream, and the size its frames are decoded at."""

    path: str
    width: int  # displayed size (rotation and pixel aspect applied)
    height: int
    fps: float  # the stream's own rate (snapped to a standard rate when within 2 %)
    duration: float | None  # seconds from the start of the file to the end of the video; None when unknown
    out_width: int
    out_height: int

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def frame_count(self, fps: float, start: float = 0.0, duration: float | None = None) -> int | None:
        """About how many frames :func:`frames` yields at ``fps`` (for progress); None when the length is unknown."""
        if self.duration is None:
            return None if duration is None else math.ceil(duration * fps - 1e-9)
        length = max(0.0, self.duration - start)
        if duration is not None:
            length = min(length, duration)
        return max(0, math.ceil(length * fps - 1e-9))


def _ffmpeg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BadInput(f"{name} is not installed: it is needed to read videos")
    return path


def _rate(text: str | None) -> float | None:
    try:
        value = float(Fraction(text)) if text else 0.0
    except (ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def native_rate(avg: float | None, base: float | None) -> float | None:
    """The frame rate of a stream from ffprobe's average and base rates, snapped to a standard rate when close."""
    rate = avg if avg is not None and avg <= 240 else base
    if rate is None or rate > 240:
        return None
    for standard in STANDARD_RATES:
        if abs(rate - standard) <= SNAP_TOLERANCE * standard:
            return standard
    return round(rate, 3)


def decoded_size(width: int, height: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """The frame size ffmpeg delivers: longest side at most ``max_side``, aspect kept, both sides even."""
    s = min(1.0, max_side / max(width, height))
    return max(2, int(round(width * s / 2)) * 2), max(2, int(round(height * s / 2)) * 2)


def _float(value: object) -> float | None:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _rotation(stream: dict) -> int:
    """The display rotation of a stream (phone videos) in degrees, from its side data or its old-style tag."""
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return int(round(_float(side["rotation"]) or 0))
    return int(round(_float((stream.get("tags") or {}).get("rotate")) or 0))


def probe(path: str) -> VideoInfo:
    """The first video stream of ``path``; BadInput when the file is missing, empty, unreadable or has no video."""
    if not path:
        raise BadInput("no video file given")
    path = os.path.abspath(os.fspath(path))
    name = os.path.basename(path)
    if not os.path.exists(path):
        raise BadInput(f"video file not found: {path}")
    if os.path.isdir(path):
        raise BadInput(f"video path is a folder, not a file: {path}")
    if os.path.getsize(path) == 0:
        raise BadInput(f"the video file is empty (0 bytes): {path}")
    cmd = [_ffmpeg_tool("ffprobe"), "-v", "error", "-show_streams", "-show_format", "-of", "json", path]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=False)
    try:
        data = json.loads(proc.stdout or "{}")
    except ValueError:
        data = {}
    if proc.returncode != 0 or not data.get("streams"):
        lines = proc.stderr.strip().splitlines()
        reason = lines[-1].split(": ", 1)[-1] if lines else "no streams"
        raise BadInput(f"cannot read the video {name}: {reason}")
    videos = [
        s
        for s in data["streams"]
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not videos:
        kinds = sorted({str(s.get("codec_type")) for s in data["streams"]})
        raise BadInput(f"{name} has no video stream (only {', '.join(kinds)}): capture needs a video of a face")
    stream = videos[0]
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    if width <= 0 or height <= 0:
        raise BadInput(f"the video stream of {name} has no picture size")
    sar = _rate(stream.get("sample_aspect_ratio", "1:1").replace(":", "/"))
    if sar and abs(sar - 1.0) > 1e-3:
        width = max(2, int(round(width * sar)))
    if abs(_rotation(stream)) % 180 == 90:
        width, height = height, width
    fps = native_rate(_rate(stream.get("avg_frame_rate")), _rate(stream.get("r_frame_rate")))
    fmt = data.get("format") or {}
    fmt_start = _float(fmt.get("start_time")) or 0.0
    duration = _float(stream.get("duration"))
    if duration is not None:  # the end of the video in file time (ffmpeg starts the file at 0)
        duration += (_float(stream.get("start_time")) or fmt_start) - fmt_start
    else:
        duration = _float(fmt.get("duration"))
    nb = _float(stream.get("nb_frames"))
    if nb == 0 or (duration is not None and duration <= 0):
        raise BadInput(f"the video {name} has no frames (zero length)")
    if fps is None:
        fps = native_rate(nb / duration, None) if nb and duration else None
    if fps is None:
        fps = 25.0  # no usable rate in the file: the common PAL rate (a user can give --fps)
    out_w, out_h = decoded_size(width, height)
    return VideoInfo(path, width, height, fps, duration, out_w, out_h)


class FrameStream:
    """RGB frames (H, W, 3) uint8 of ``info``'s video at ``fps`` from ``start`` seconds for ``duration`` seconds.

    Frame ``i`` is what the video shows at ``start + i / fps``. One ffmpeg process decodes the whole range; it starts
    at once (so it seeks and decodes while the caller sets up) and ends when the frames are read, on :meth:`close`,
    or as soon as ``should_stop()`` turns true (the iteration then just ends). A decoding failure is a BadInput.
    """

    def __init__(
        self,
        info: VideoInfo,
        fps: float,
        start: float = 0.0,
        duration: float | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.info, self.should_stop = info, should_stop
        w, h = info.out_width, info.out_height
        self.shape = (h, w, 3)
        seek = max(0.0, start - SEEK_MARGIN_S)  # seek a little early: the frame showing at ``start`` began before it
        cmd = [_ffmpeg_tool("ffmpeg"), "-nostdin", "-v", "error"]
        if seek > 0:
            cmd += ["-ss", f"{seek:.6f}"]  # before -i: fast, then exact (ffmpeg decodes from the keyframe before it)
        cmd += ["-i", info.path, "-map", "0:v:0", "-an", "-sn", "-dn"]
        # round=up: output frame i takes the last input frame with a time <= start + i / fps, as a player shows it
        cmd += ["-vf", f"fps=fps={fps:.6f}:start_time={start - seek:.6f}:round=up,scale={w}:{h}:flags=area"]
        cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        self.limit = None if duration is None else max(1, math.ceil(duration * fps - 1e-9))
        self.count = 0
        self.errors: list[str] = []
        self._done = threading.Event()
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._threads = [threading.Thread(target=self._drain, daemon=True), threading.Thread(target=self._watch)]
        for t in self._threads:
            t.daemon = True
            t.start()

    def _drain(self) -> None:
        for raw in self._proc.stderr:  # type: ignore[union-attr]
            self.errors.append(raw.decode("utf-8", "replace").strip())
            del self.errors[:-20]

    def _watch(self) -> None:
        while not self._done.wait(KILL_POLL_S):
            if self.should_stop is not None and self.should_stop():
                self._proc.kill()
                return

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        size = self.shape[0] * self.shape[1] * 3
        buf = b"" if self._done.is_set() or (self.limit is not None and self.count >= self.limit) else None
        if buf is None:
            buf = self._proc.stdout.read(size)  # type: ignore[union-attr]
        if len(buf) < size:
            code = self.close()
            stopped = self.should_stop is not None and self.should_stop()
            if code != 0 and not stopped and (self.limit is None or self.count < self.limit):
                reason = next((line for line in reversed(self.errors) if line), f"ffmpeg exit status {code}")
                raise BadInput(f"cannot decode the video {self.info.name}: {reason}")
            raise StopIteration
        self.count += 1
        return np.frombuffer(buf, np.uint8).reshape(self.shape)

    def close(self) -> int:
        """End ffmpeg (killed if it still runs) and return its exit status."""
        if not self._done.is_set():
            self._done.set()
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.stdout.close()  # type: ignore[union-attr]
            self._proc.wait()
            for t in self._threads:
                t.join(timeout=2)
        return self._proc.returncode

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
