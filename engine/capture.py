"""Capture: a video of a face → head pose, mouth channels and blinks for every frame (PC-AVS: pose from a video).

The video is decoded once and streamed (engine.video). mediapipe's face mesh tracks the face from frame to frame
(engine.render.face), and each frame keeps only a few numbers: its similarity to the first frame with a face
(engine.headpose) and its mouth and eye measurements (engine.expression), so memory stays small for any length.
After the pass the pose is re-based on the reference (the first frame with a face, frame K, or a portrait's own
pose), gaps of a few frames without a face are interpolated, longer ones held and reported, and the detector's
noise is removed without lag (engine.denoise).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from . import expression, native
from .denoise import zero_lag
from .errors import BadInput, Cancelled
from .headpose import IDENTITY, Similarity, above_mouth, angles, fit, head_space, pose_channels, relative
from .render.face import face_mesh, faces_of
from .render.landmarks import face_geometry
from .video import KILL_POLL_S, FrameStream, VideoInfo, decoded_size

MIN_FOUND = 0.5  # a face in fewer than this share of the frames is refused
MAX_GAP_S = 0.25  # gaps without a face up to this long are interpolated; longer ones are held and reported
PORTRAIT_MAX_SIDE, PORTRAIT_MIN_SIDE = 2048, 64  # a portrait scaled to the video's face size stays in these bounds
PASSES = 2  # face-mesh passes over each frame: the first crops it where the face is, the second measures
SETTLE_PASSES = PASSES + 1  # passes after the detector's crop where the face has just been found: one to crop it
# where it is, then as many as a tracked frame gets (so it is read like the frames measured against it)
SAME_FACE = 0.5  # among several faces, the tracked one moves less than this many face widths from frame to frame
# zero-lag one-euro filter per channel: (minimum cutoff in Hz, beta per unit of speed in units/s)
FILTER: dict[str, tuple[float, float] | None] = {
    "pitch": (0.4, 0.05),
    "yaw": (0.4, 0.05),
    "roll": (0.4, 0.2),
    "x": (0.4, 10.0),
    "y": (0.4, 10.0),
    "scale": (0.4, 10.0),
    "mouth_open": (6.0, 1.0),
    "mouth_wide": (6.0, 1.0),
    "mouth_round": (6.0, 1.0),
    "lips_closed": (6.0, 1.0),
    "blink": None,  # a blink is over in four frames: any smoothing would swallow it
}
POSE_CHANNELS = ("pitch", "yaw", "roll", "x", "y", "scale")
# how the face mesh's head pose follows the mouth: per face height of lip gap, the upper face reads this much
# more pitch (degrees), x, y (face heights) and scale (measured on a still head talking: scripts/eval_capture.py)
MOUTH_COUPLING = np.array([35.0, 0.0, 0.0, 0.0, -0.39, 0.1])


@dataclass
class Track:
    """What one pass over a video keeps: per frame, whether a face was found, its similarity to the anchor (the
    first frame with a face) and its expression features; the landmarks of the anchor and of frames asked for."""

    info: VideoInfo
    fps: float
    start: float
    found: np.ndarray  # (n,) bool
    motion: np.ndarray  # (n, 13) Similarity.as_array to the anchor, NaN without a face
    features: np.ndarray  # (n, 3) expression.FEATURES, NaN without a face
    anchor: int  # index of the first frame with a face
    landmarks: dict[int, np.ndarray]  # the anchor's and the kept frames' landmarks
    faces: int  # faces in view where the face was first found
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.found)

    def landmarks_at(self, i: int) -> np.ndarray:
        """Frame ``i``'s landmarks: as measured when they were kept, else the anchor's moved by frame ``i``'s
        similarity (its rigid part, which is what a reference needs)."""
        if i in self.landmarks:
            return self.landmarks[i]
        sim = Similarity.from_array(self.motion[i])
        return head_space(sim.apply(head_space(self.landmarks[self.anchor])))


@dataclass
class Capture:
    """The result: pose (n, 6) in pose.json channels, lips (n, 5) in expression.CHANNELS, and what to report."""

    pose: np.ndarray
    lips: np.ndarray
    gaps: list[dict[str, Any]]
    reference: dict[str, Any]


class _Rows:
    """A growing (n, k) float array: the per-frame numbers of a pass, compact for hours of video."""

    def __init__(self, k: int) -> None:
        self.data = np.empty((4096, k))
        self.n = 0

    def append(self, row: np.ndarray) -> None:
        if self.n == len(self.data):
            self.data = np.concatenate([self.data, np.empty_like(self.data)])
        self.data[self.n] = row
        self.n += 1

    def array(self) -> np.ndarray:
        return self.data[: self.n].copy()


class _Follower:
    """Finds the chosen face in each frame: counts the faces where one is first seen, then tracks that face."""

    def __init__(self, name: str, size: tuple[int, int], face: int | None, face_flag: str | None) -> None:
        self.name, self.size, self.face, self.face_flag = name, size, face, face_flag
        self.counter = face_mesh(static=True, max_faces=8)
        self.tracker: Any = None
        self.faces = 0
        self.last: np.ndarray | None = None
        self.had_face = False

    def close(self) -> None:
        for mesh in (self.counter, self.tracker):
            if mesh is not None:
                mesh.close()

    def _pick(self, faces: list[np.ndarray]) -> np.ndarray | None:
        if not faces:
            return None
        if self.faces == 1 or self.last is None:
            return faces[0] if self.faces == 1 else None
        centre = self.last[:, :2].mean(0)
        width = face_geometry(self.last).width
        best = min(faces, key=lambda f: float(np.linalg.norm(f[:, :2].mean(0) - centre)))
        return best if np.linalg.norm(best[:, :2].mean(0) - centre) < SAME_FACE * width else None

    def _first(self, frame: np.ndarray, t: float) -> np.ndarray | None:
        faces = faces_of(self.counter.process(frame), self.size)
        if not faces:
            return None
        count, name, flag = len(faces), self.name, self.face_flag
        if flag is None and count > 1:
            raise BadInput(f"{count} faces in {name}: the portrait to measure the angles from must show one face")
        if self.face is None and count > 1:
            raise BadInput(
                f"{count} faces in {name} (at {t:.2f} s): pass {flag} N to pick one (0..{count - 1}, left to right)"
            )
        chosen = self.face or 0
        if chosen >= count:
            raise BadInput(f"{flag} {chosen}: {name} shows {count} face(s) (0..{count - 1}, left to right)")
        self.faces = count
        self.counter.close()
        self.counter = None
        self.tracker = face_mesh(static=False, max_faces=count)
        self.last = faces[chosen]
        return self._track(frame, found_before=False)

    def _track(self, frame: np.ndarray, found_before: bool) -> np.ndarray | None:
        face = self._pick(faces_of(self.tracker.process(frame), self.size))
        if face is not None and self.faces == 1:
            # the mesh crops each frame where the face was in the frame before: a moving head sits off-centre and
            # turned in its crop, which biases what it reads by up to a degree or two. Measured again, the frame is
            # cropped where the face is now. Where the face has just been found, the detector's crop (which differs
            # more) is first brought to the face.
            for _ in range(PASSES - 1 if found_before else SETTLE_PASSES):
                again = self._pick(faces_of(self.tracker.process(frame), self.size))
                face = face if again is None else again
        if face is not None:
            self.last = face
        self.had_face = face is not None
        return face

    def __call__(self, frame: np.ndarray, t: float) -> np.ndarray | None:
        """The chosen face's landmarks (478, 3) in pixels, or None when it is not in this frame."""
        with native.quiet_stderr():  # TFLite prints on the first frame
            if self.tracker is None:
                return self._first(frame, t)
            return self._track(frame, self.had_face)


def portrait_landmarks(path: str, face_height: float | None = None) -> np.ndarray:
    """The landmarks (478, 3) of a portrait's face, measured as capture measures a video frame (the same frame size,
    crop and passes, so its head pose compares with the video's). ``face_height`` (pixels, forehead to chin): the
    portrait is measured again scaled so that its face is that tall, as the video's face is: the face mesh reads
    one face a little differently at different sizes (up to 0.7 degrees), and a reference should not differ from
    the video by its size."""
    from .render.face import read_image  # noqa: PLC0415

    img = read_image(path).convert("RGB")
    name = os.path.basename(path)
    measured = decoded_size(img.width, img.height)
    landmarks = _read_portrait(img, measured, name)
    if face_height:
        scale = face_height / max(face_geometry(landmarks).height, 1.0)
        size = (max(2, round(measured[0] * scale)), max(2, round(measured[1] * scale)))
        if max(size) <= PORTRAIT_MAX_SIDE and min(size) >= PORTRAIT_MIN_SIDE:
            landmarks = _read_portrait(img, size, name)
    return landmarks


def _read_portrait(img: Image.Image, size: tuple[int, int], name: str) -> np.ndarray:
    (landmarks,) = read_frames([np.asarray(img.resize(size, Image.LANCZOS))], None, name, None)
    if landmarks is None:
        raise BadInput(f"no face found in {name}")
    return landmarks


def read_frames(
    frames: list[np.ndarray], face: int | None = None, name: str = "frames", face_flag: str | None = "face"
) -> list[np.ndarray | None]:
    """The landmarks (478, 3) of one face in each of a sequence of RGB frames (uint8 H, W, 3), read as a video's
    frames are (tracked, measured again where the face is); None where it is not found. ``face`` picks one of
    several, as ``--face`` does (``face_flag``: its name in the messages; None: several faces are refused)."""
    if not frames:
        return []
    size = (frames[0].shape[1], frames[0].shape[0])
    follower = _Follower(name, size, face, face_flag)
    try:
        return [follower(np.ascontiguousarray(frame[..., :3]), i) for i, frame in enumerate(frames)]
    finally:
        follower.close()


def _load_follower(name: str, size: tuple[int, int], face: int | None, face_flag: str) -> Future[_Follower]:
    """A :class:`_Follower` made on a thread (loading the face mesh takes a while: a cancel need not wait for it)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="posetalk-face-mesh")
    try:
        return pool.submit(_Follower, name, size, face, face_flag)
    finally:
        pool.shutdown(wait=False)


def _wait(loading: Future[_Follower], should_stop: Callable[[], bool] | None) -> _Follower:
    while True:
        try:
            return loading.result(timeout=KILL_POLL_S)
        except FutureTimeout:
            if should_stop is not None and should_stop():
                raise Cancelled("cancelled") from None


def _lost_message(name: str, found: int, seen: int, min_found: float) -> str:
    if found == 0:
        return f"no face found in {name}"
    share = 100.0 * found / max(seen, 1)
    return (
        f"the face is visible in only {share:.0f} % of the frames of {name}: capture needs it in at least "
        f"{100 * min_found:.0f} % (pick the part where it is with --start and --duration)"
    )


def track_video(
    info: VideoInfo,
    fps: float,
    start: float = 0.0,
    duration: float | None = None,
    face: int | None = None,
    keep: tuple[int, ...] = (),
    progress: Callable[[int, int, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    face_flag: str = "--face",
    min_found: float = MIN_FOUND,
) -> Track:
    """One pass over the video: find and track the face, measure every frame (see :class:`Track`).

    ``progress(done, total, message)`` is called once per frame (it may raise to cancel; ``should_stop`` is also
    watched while ffmpeg decodes). BadInput when no frames come, no face is found, several faces are in view and
    ``face`` is None, or the face is missing from more than a ``min_found`` share of the frames (noticed as early
    as that is certain).
    """
    expected = info.frame_count(fps, start, duration)
    stream = FrameStream(info, fps, start, duration, should_stop)  # ffmpeg decodes while the face mesh loads
    loading = _load_follower(info.name, (info.out_width, info.out_height), face, face_flag)
    follower = None
    width = 1 + 13 + len(expression.FEATURES)  # found, similarity, features
    rows = _Rows(width)
    nothing = np.full(width, np.nan)
    nothing[0] = 0.0
    landmarks: dict[int, np.ndarray] = {}
    anchor_lm: np.ndarray | None = None
    anchor_geo = None
    rigid = np.empty(0, dtype=int)
    wait = mesh_s = 0.0
    missing = 0
    t_begin = time.perf_counter()
    try:
        follower = _wait(loading, should_stop)
        i = 0
        while True:
            t0 = time.perf_counter()
            frame = next(stream, None)
            t1 = time.perf_counter()
            wait += t1 - t0
            if frame is None:
                break
            lm = follower(frame, start + i / fps)
            mesh_s += time.perf_counter() - t1
            if lm is None:
                rows.append(nothing)
                missing += 1
                if expected and min_found > 0 and missing > (1.0 - min_found) * expected:
                    raise BadInput(_lost_message(info.name, i + 1 - missing, expected, min_found))
            else:
                if anchor_lm is None:
                    anchor_lm, anchor_geo, rigid = lm, face_geometry(lm), above_mouth(lm)
                    landmarks[i] = lm
                    sim = IDENTITY
                else:
                    sim = fit(anchor_lm, lm, rigid)
                if i in keep:
                    landmarks[i] = lm
                rows.append(np.concatenate([[1.0], sim.as_array(), expression.measure(lm, sim, anchor_geo)]))
            i += 1
            if progress is not None:
                total = max(expected or 0, i)
                progress(i, total, f"frame {i}/{total}")
    finally:
        stream.close()  # ends ffmpeg at once, also when a cancel or an error leaves the loop
        loading.add_done_callback(lambda f: f.exception() is None and f.result().close())
    if should_stop is not None and should_stop():
        raise Cancelled("cancelled")
    table = rows.array()
    found = table[:, 0] > 0.5
    n = len(found)
    if n == 0:
        if start > 0:
            raise BadInput(f"the start ({start:g} s) is at or past the end of {info.name}: no frames to capture")
        raise BadInput(f"no frames could be decoded from {info.name}")
    if not found.any() or found.sum() < min_found * n:
        raise BadInput(_lost_message(info.name, int(found.sum()), n, min_found))
    seconds = {"total": time.perf_counter() - t_begin, "waiting_for_frames": wait, "face_mesh": mesh_s}
    return Track(
        info=info,
        fps=fps,
        start=start,
        found=found,
        motion=table[:, 1:14],
        features=table[:, 14:],
        anchor=int(np.argmax(found)),
        landmarks=landmarks,
        faces=follower.faces,
        seconds=seconds,
    )


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def fill_and_filter(
    values: np.ndarray, found: np.ndarray, fps: float, names: tuple[str, ...]
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Fill and denoise per-frame ``values`` (n, c) measured where ``found``: gaps up to MAX_GAP_S inside the clip
    are interpolated, the rest filtered without lag (:data:`FILTER`) stretch by stretch, and longer gaps (and the
    frames before the first face and after the last) hold the nearest measured value.

    Returns the filled values and the held gaps longer than MAX_GAP_S as ``[start, stop)`` frame pairs.
    """
    n = len(values)
    max_gap = max(1, int(round(MAX_GAP_S * fps)))
    missing = _runs(~found)
    long_gaps = [(a, b) for a, b in missing if b - a > max_gap]
    short = np.zeros(n, dtype=bool)
    for a, b in missing:
        if b - a <= max_gap and a > 0 and b < n:
            short[a:b] = True
    usable = found | short
    t = np.arange(n)
    out = np.array(values, dtype=np.float64)
    idx = np.flatnonzero(found)
    for c in range(out.shape[1]):
        out[short, c] = np.interp(t[short], idx, out[idx, c])
    cols = [c for c, name in enumerate(names) if FILTER[name] is not None]
    params = np.array([FILTER[names[c]] for c in cols])
    for a, b in _runs(usable):  # stretches between long gaps are filtered on their own (no smearing across)
        out[a:b, cols] = zero_lag(out[a:b, cols], fps, params[:, 0], params[:, 1])
    good = np.flatnonzero(usable)
    hold = np.searchsorted(good, t, side="right") - 1  # the last measured frame before each frame ...
    hold = np.where(hold < 0, 0, hold)  # ... or the first one for frames before it
    out[~usable] = out[good[hold[~usable]]]
    return out, long_gaps


def raw_pose(
    track: Track, reference_frame: int | None = None, portrait: np.ndarray | None = None, frames: range | None = None
) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Pose channels (n, 6) of the frames with a face (NaN elsewhere) as measured, before any correction, relative
    to the first frame with a face, frame ``reference_frame``, or (angles) the head pose of ``portrait``'s landmarks;
    also the lip gap of that reference and how it was chosen (for the documents' meta). ``frames``: measure only
    these (the others stay NaN)."""
    n, name = track.n, track.info.name
    base, ref_index = IDENTITY, track.anchor
    if reference_frame is not None:
        if reference_frame >= n:
            raise BadInput(f"--reference-frame {reference_frame} is past the end: the capture has {n} frames")
        if not track.found[reference_frame]:
            raise BadInput(f"no face in frame {reference_frame} of {name}: pick another --reference-frame")
        base, ref_index = Similarity.from_array(track.motion[reference_frame]), reference_frame
    ref = track.landmarks_at(ref_index)
    gap_ref = float(track.features[ref_index, 0])
    to_portrait = None
    reference: dict[str, Any] = {"reference": "frame", "reference_frame": ref_index}
    if portrait is not None:
        to_portrait = fit(portrait, ref, above_mouth(portrait)).rotation
        gap_ref = portrait_gap(portrait)
        reference = {"reference": "image"}
    pose = np.full((n, 6), np.nan)
    chosen = np.zeros(n, dtype=bool)
    chosen[frames if frames is not None else slice(None)] = True
    for i in np.flatnonzero(track.found & chosen):
        measured = Similarity.from_array(track.motion[i])
        pose[i] = pose_channels(relative(base, measured), ref)
        if to_portrait is not None:  # both the portrait and the anchor were measured with a settled crop
            pose[i, :3] = angles(measured.rotation @ to_portrait)
    return pose, gap_ref, reference


def portrait_gap(portrait: np.ndarray) -> float:
    """The lip gap (face heights) of a portrait's landmarks at rest."""
    return float(expression.measure(portrait, IDENTITY, face_geometry(portrait))[0])


def corrected_pose(
    track: Track, reference_frame: int | None = None, portrait: np.ndarray | None = None, frames: range | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """:func:`raw_pose` with the face mesh's response to the mouth taken out (:data:`MOUTH_COUPLING`)."""
    pose, gap_ref, reference = raw_pose(track, reference_frame, portrait, frames)
    return pose - np.outer(track.features[:, 0] - gap_ref, MOUTH_COUPLING), reference


def channels(track: Track, reference_frame: int | None = None, portrait: np.ndarray | None = None) -> Capture:
    """Pose and lips channels of a track (:func:`corrected_pose` for the pose), gaps filled, noise filtered."""
    pose, reference = corrected_pose(track, reference_frame, portrait)
    ok = track.features[track.found]
    eye_open = expression.usual_eye_opening(np.where(track.found[:, None], track.features, np.nan), track.fps)
    rest_gap = 0.0 if portrait is None else portrait_gap(portrait)  # --image: the mouth in the portrait's terms
    lips = expression.channels(track.features, expression.rest_width(ok), eye_open, rest_gap)
    values = np.concatenate([pose, lips], axis=1)
    filled, long_gaps = fill_and_filter(values, track.found, track.fps, (*POSE_CHANNELS, *expression.CHANNELS))
    gaps = [
        {"frame": a, "frames": b - a, "start": round(a / track.fps, 3), "end": round(b / track.fps, 3)}
        for a, b in long_gaps
    ]
    return Capture(pose=filled[:, :6], lips=np.clip(filled[:, 6:], 0.0, 1.0), gaps=gaps, reference=reference)
