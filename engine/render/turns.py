"""Turn calibration: the warp angles at which a portrait's turns and nods read as the angles asked.

The pose warp (engine.render.coarse) moves a photo, not a head: seen by the face mesh, its turns read short
(a yaw of 20 degrees reads 15-18, differently to the left and to the right and from face to face), and a turn
also reads as a slight nod, a tilt and a move. So each portrait measures its own warp once: it is drawn turning
from the front to ``SWEEP_DEG`` and back about each axis, the frames are read as capture reads a video
(engine.capture: the tracked face mesh, the rigid landmarks above the mouth), and a :class:`TurnMap` is fitted
by least squares: per axis a gain and a bend, and the nod, tilt and move a turn reads as. The renderer then draws
each pose with the warp angles that read as the angles asked and takes the rest out, so a rendered head turns by
what its pose curves say, as the engine's own capture reads a turn; and a pose captured from a video (PC-AVS)
turns the portrait as far as the video's face.

A map is measured once per image file on the portrait at ``CALIBRATION_SIDE`` pixels (about 2.5 s on two cores),
kept in memory, and on disk next to the portrait's face cache when the renderer has a cache folder.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..errors import BadInput
from ..headpose import above_mouth, fit, pose_channels
from .face import Portrait, disk_key, load_portrait

SWEEP_DEG = (4.0, 8.0, 12.0, 16.0, 20.0, 24.0)  # the angles of the sweep, each side of the front
FIT_PASSES = 2  # the bare warp read, then the warp as fitted to it read too, and both fitted together
CALIBRATION_SIDE = 512  # longest side of the portrait the sweep is drawn on (any render size uses its map)
GAIN_RANGE = (0.5, 1.5)  # a measured gain outside this is a misread sweep: clamped
MAX_BEND = 1.0 / 160.0  # |bend| / gain: the read angle keeps rising (slope >= half the gain) out to 40 degrees
NOD_RANGE = (-0.3, 0.3)  # nod or tilt read per degree of turn and per degree squared, likewise
SHIFT_RANGE = (-0.01, 0.01)  # face heights of move per degree of turn and per degree squared, likewise
MIN_FRAMES = 3  # frames per coefficient where the face was read, else the warp keeps its own angles
VERSION = 1  # of the disk cache's content
_LOCK = threading.Lock()
_CACHE: OrderedDict[tuple, TurnMap] = OrderedDict()
_CACHE_SIZE = 8


@dataclass(frozen=True)
class TurnMap:
    """What the face mesh reads of the warp's turns, as smooth functions of the angles drawn (degrees).

    Pitch read = ``pitch[0]·p + pitch[1]·p² + nod[0]·y + nod[1]·y²``, yaw read = ``yaw[0]·y + yaw[1]·y²`` and
    roll read = ``r + tilt[0]·y + tilt[1]·y²`` for a warp drawn at pitch ``p``, yaw ``y`` and roll ``r``: a gain, a
    bend (a turn to one side reading more than to the other), and the nod and the tilt a turn reads as. A roll is
    a turn in the picture's plane and reads as drawn. Position: x read = ``x + shift[0]·y + shift[1]·y²`` and
    y read = ``y_pos + shift[2]·p + shift[3]·p²`` (face heights): the sideways and upward move a turn and a nod
    read as besides the turn about the neck pivot.
    """

    pitch: tuple[float, float] = (1.0, 0.0)
    yaw: tuple[float, float] = (1.0, 0.0)
    nod: tuple[float, float] = (0.0, 0.0)
    tilt: tuple[float, float] = (0.0, 0.0)
    shift: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def warp_pose(self, pose: torch.Tensor) -> torch.Tensor:
        """Asked poses (B, 6) → the poses the warp draws so that they read as asked."""
        out = pose.clone()
        out[:, 1] = _solve(self.yaw, pose[:, 1])
        yaw = out[:, 1]
        out[:, 0] = _solve(self.pitch, pose[:, 0] - self.nod[0] * yaw - self.nod[1] * yaw * yaw)
        out[:, 2] = pose[:, 2] - self.tilt[0] * yaw - self.tilt[1] * yaw * yaw
        pitch = out[:, 0]
        out[:, 3] = pose[:, 3] - self.shift[0] * yaw - self.shift[1] * yaw * yaw
        out[:, 4] = pose[:, 4] - self.shift[2] * pitch - self.shift[3] * pitch * pitch
        return out

    def to_json(self) -> str:
        return json.dumps({"version": VERSION, **asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> TurnMap:
        data = json.loads(text)
        if data.get("version") != VERSION:
            raise ValueError("another version")
        return cls(*(tuple(float(v) for v in data[k]) for k in ("pitch", "yaw", "nod", "tilt", "shift")))


def _solve(curve: tuple[float, float], read: torch.Tensor) -> torch.Tensor:
    """The angle ``w`` with ``gain·w + bend·w² = read`` (Newton from ``read / gain``; the bend is small enough,
    ``MAX_BEND``, that the curve rises over every angle a head turns)."""
    gain, bend = curve
    if bend == 0.0:
        return read / gain
    w = read / gain
    for _ in range(4):
        w = w - (gain * w + bend * w * w - read) / (gain + 2.0 * bend * w)
    return w


IDENTITY_TURNS = TurnMap()


def sweep_poses() -> np.ndarray:
    """The sweep (n, 6): the front, then about each axis out to +SWEEP_DEG, back, out to -SWEEP_DEG and back."""
    side = np.asarray(SWEEP_DEG)
    there_and_back = np.concatenate([side, side[::-1][1:], [0.0]])
    run = np.concatenate([there_and_back, -there_and_back])
    poses = np.tile([0, 0, 0, 0, 0, 1.0], (1 + 2 * len(run), 1))
    poses[1 : 1 + len(run), 0] = run  # pitch
    poses[1 + len(run) :, 1] = run  # yaw
    return poses


def read_pose(frames: list[np.ndarray], face: int | None) -> np.ndarray:
    """The pose channels (n, 6) of each frame against the first as capture reads a video (NaN where the face is
    not found)."""
    from ..capture import read_frames  # noqa: PLC0415 (capture loads the face mesh; the renderer may not need it)

    out = np.full((len(frames), 6), np.nan)
    try:
        marks = read_frames(frames, face)
    except BadInput:  # another face came into view: nothing is read, and the warp keeps its own angles
        return out
    first = marks[0]
    if first is None:
        return out
    rigid = above_mouth(first)
    for i, lm in enumerate(marks):
        if lm is not None:
            out[i] = pose_channels(fit(first, lm, rigid), first)
    return out


def _fit(columns: list[np.ndarray], read: np.ndarray) -> np.ndarray | None:
    """Least-squares coefficients of ``read`` on ``columns`` over the frames where the face was read."""
    ok = np.isfinite(read)
    if ok.sum() < MIN_FRAMES * len(columns):
        return None
    return np.linalg.lstsq(np.stack([c[ok] for c in columns], 1), read[ok], rcond=None)[0]


def _curve(coef: np.ndarray | None) -> tuple[float, float]:
    if coef is None:
        return (1.0, 0.0)
    gain = float(np.clip(coef[0], *GAIN_RANGE))
    return (gain, float(np.clip(coef[1], -gain * MAX_BEND, gain * MAX_BEND)))


def _terms(coef: np.ndarray | None, bounds: tuple[float, float]) -> tuple[float, ...]:
    """Two fitted coefficients clamped to ``bounds``; none (the face too rarely read) where there is no fit."""
    return (0.0, 0.0) if coef is None else tuple(float(np.clip(v, *bounds)) for v in coef)


def measure(portrait: Portrait, device: torch.device, face: int | None = None) -> TurnMap:
    """Fit the :class:`TurnMap` of ``portrait`` (see the module's docstring)."""
    from .coarse import CoarseWarp  # noqa: PLC0415 (coarse imports this module)

    warp = CoarseWarp(portrait, device)
    image = torch.from_numpy(np.ascontiguousarray(portrait.image[..., :3].transpose(2, 0, 1)))[None].to(device)
    asked = sweep_poses()
    drawn_all, read_all = [], []
    found = IDENTITY_TURNS
    for _ in range(FIT_PASSES):
        warp.turns = found
        frames = []
        with torch.inference_mode():
            for start in range(0, len(asked), 16):
                batch = torch.as_tensor(asked[start : start + 16], dtype=torch.float32, device=device)
                out = warp.warp(image.expand(len(batch), -1, -1, -1), batch)
                frames.extend((out.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
            drawn_all.append(found.warp_pose(torch.as_tensor(asked, dtype=torch.float64)).numpy())
        read_all.append(read_pose(frames, face))
        drawn, read = np.concatenate(drawn_all), np.concatenate(read_all)
        p, y = drawn[:, 0], drawn[:, 1]
        yaw = _fit([y, y * y], read[:, 1])
        pitch = _fit([p, p * p, y, y * y], read[:, 0])
        nod = _terms(None if pitch is None else pitch[2:], NOD_RANGE)
        tilt = _terms(_fit([y, y * y], read[:, 2] - drawn[:, 2]), NOD_RANGE)
        side = _terms(_fit([y, y * y], read[:, 3] - drawn[:, 3]), SHIFT_RANGE)
        up = _terms(_fit([p, p * p], read[:, 4] - drawn[:, 4]), SHIFT_RANGE)
        found = TurnMap(_curve(pitch), _curve(yaw), nod, tilt, side + up)
    return found


def turn_map(path: str, device: torch.device, face: int | None = None, cache_dir: str | None = None) -> TurnMap:
    """The :class:`TurnMap` of the portrait in image file ``path``: from memory, from ``cache_dir`` or measured on
    the portrait at ``CALIBRATION_SIDE`` (and kept in both), so it is one map whatever size it is rendered at."""
    path = os.path.abspath(path)
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size, face)
    cache_file = os.path.join(cache_dir, f"turns-{disk_key(path, face)}.json") if cache_dir else None
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    found = None
    if cache_file and os.path.isfile(cache_file):
        try:
            with open(cache_file, encoding="utf-8") as fh:
                found = TurnMap.from_json(fh.read())
        except (OSError, ValueError, KeyError, TypeError):
            found = None  # a damaged or older entry is measured again
    if found is None:
        found = measure(load_portrait(path, CALIBRATION_SIDE, face, cache_dir), device, face)
        if cache_file:
            try:
                os.makedirs(os.path.dirname(cache_file), exist_ok=True)
                tmp = f"{cache_file}.{os.getpid()}.tmp"
                with open(tmp, "w", encoding="utf-8") as fh:
                    fh.write(found.to_json())
                os.replace(tmp, cache_file)
            except OSError:
                pass  # caching is best effort
    with _LOCK:
        _CACHE[key] = found
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return found
