"""The renderer: one portrait, many frames. RefineNet edits mouth and eyes, then CoarseNet warps by the pose."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np
import torch

from ..errors import BadInput
from .blinks import eyelid_curve
from .coarse import CoarseWarp
from .face import Portrait, load_portrait
from .refine import Refiner
from .turns import turn_map

MOUTH_CHANNELS = ("mouth_open", "mouth_wide", "mouth_round", "lips_closed")
TONGUE_SHAPES = {"H": 1.0}  # visemes with the tongue tip up (H: l); lips.json entries may also say "tongue": true
TONGUE_RAMP_S = 0.04  # the tip rises and falls over about this long
_RENDERERS: OrderedDict[tuple, Renderer] = OrderedDict()
_RENDERERS_LOCK = threading.Lock()


def pick_device(device: str | None = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; ``"cuda"`` without a GPU is a BadInput."""
    name = (device or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BadInput("device 'cuda' requested but no CUDA GPU is available")
    if name not in ("cpu", "cuda"):
        raise BadInput(f"device must be auto, cpu or cuda, got {device!r}")
    return torch.device(name)


def mouth_matrix(lips: np.ndarray | None, channels: list[str] | None, n: int) -> np.ndarray:
    """(n, 4) open/wide/round/closed from a lips array with named channels (missing channels and frames: 0)."""
    out = np.zeros((n, len(MOUTH_CHANNELS)), dtype=np.float32)
    if lips is None or not channels:
        return out
    lips = np.asarray(lips, dtype=np.float32).reshape(len(lips), -1)
    m = min(n, len(lips))
    for j, name in enumerate(MOUTH_CHANNELS):
        if name in channels:
            out[:m, j] = lips[:m, channels.index(name)]
    return np.clip(out, 0.0, 1.0)


def tongue_track(visemes: list[dict] | None, n: int, fps: float) -> np.ndarray:
    """(n,) raised tongue tip 0..1 per frame from lips.json visemes (``{"start", "end", "shape"}`` in seconds, and
    optionally ``"tongue": true``): the share of each frame covered by such a viseme, eased in and out."""
    out = np.zeros(n, dtype=np.float64)
    if not visemes or n == 0:
        return out.astype(np.float32)
    sub = 8  # sub-frame samples
    t = (np.arange(n * sub) + 0.5) / (sub * fps)
    on = np.zeros(n * sub)
    for v in visemes:
        try:
            start, end, shape = float(v["start"]), float(v["end"]), str(v.get("shape", ""))
        except (KeyError, TypeError, ValueError):
            continue  # an entry this renderer cannot read shows no tongue
        weight = 1.0 if v.get("tongue") is True else TONGUE_SHAPES.get(shape, 0.0)
        if weight > 0 and end > start:
            sel = (t >= start) & (t < end)
            on[sel] = np.maximum(on[sel], weight)
    ramp = max(1, int(round(TONGUE_RAMP_S * fps * sub)))
    kernel = np.ones(2 * ramp + 1) / (2 * ramp + 1)
    on = np.convolve(on, kernel, mode="same")
    out = on.reshape(n, sub).mean(axis=1)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


class Renderer:
    """Render frames of ``image_path`` at longest side ``size`` (even dimensions)."""

    def __init__(
        self, image_path: str, size: int = 512, device: str = "auto", face: int | None = None,
        cache_dir: str | None = None,
    ) -> None:  # fmt: skip
        if not isinstance(size, int) or not 64 <= size <= 4096:
            raise BadInput(f"size must be a whole number between 64 and 4096, got {size!r}")
        self.device = pick_device(device)
        self.portrait: Portrait = load_portrait(image_path, size=size, face=face, cache_dir=cache_dir)
        self.width, self.height = self.portrait.size
        self.channels = self.portrait.image.shape[2]
        img = torch.from_numpy(np.ascontiguousarray(self.portrait.image.transpose(2, 0, 1)))
        self.image = img.to(self.device)
        self.coarse = CoarseWarp(self.portrait, self.device)
        self.coarse.turns = turn_map(self.portrait.path, self.device, face, cache_dir)
        self.refiner = Refiner(self.portrait, self.device)

    @torch.inference_mode()
    def render_batch(
        self, pose: np.ndarray, mouth: np.ndarray, blink: np.ndarray, tongue: np.ndarray | None = None
    ) -> np.ndarray:
        """(b, 6) pose, (b, 4) mouth, (b,) blink, optional (b,) raised tongue tip → uint8 frames (b, H, W, C)."""
        b = len(pose)
        pose_t = torch.as_tensor(np.asarray(pose, dtype=np.float32), device=self.device)
        mouth_t = torch.as_tensor(np.asarray(mouth, dtype=np.float32), device=self.device)
        blink_t = torch.as_tensor(np.asarray(blink, dtype=np.float32), device=self.device)
        tongue_t = None if tongue is None else torch.as_tensor(np.asarray(tongue, dtype=np.float32), device=self.device)
        images = self.image.unsqueeze(0).repeat(b, 1, 1, 1)
        images = self.refiner.apply(images, mouth_t, blink_t, tongue_t)
        if bool((pose_t - pose_t.new_tensor([0, 0, 0, 0, 0, 1.0])).abs().max() > 1e-6):
            images = self.coarse.warp(images, pose_t)
        frames = (images.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1)
        return frames.contiguous().cpu().numpy()

    def render(
        self, pose: np.ndarray, lips: np.ndarray | None = None, lip_channels: list[str] | None = None,
        fps: float = 25.0, blinks: bool = True, seed: int = 0, batch: int = 16, visemes: list[dict] | None = None,
    ) -> Iterator[np.ndarray]:  # fmt: skip
        """Yield uint8 frames (b, H, W, C) in batches of up to ``batch`` for ``pose`` (n, 6). ``visemes`` (lips.json's
        list) raise the tongue tip where they say so."""
        pose = np.asarray(pose, dtype=np.float32).reshape(-1, 6)
        n = len(pose)
        mouth = mouth_matrix(lips, lip_channels, n)
        blink = eyelid_curve(lips, lip_channels, n, fps, blinks, seed)
        tongue = tongue_track(visemes, n, fps)
        batch = max(1, int(batch))
        for start in range(0, n, batch):
            end = min(n, start + batch)
            yield self.render_batch(pose[start:end], mouth[start:end], blink[start:end], tongue[start:end])


def get_renderer(
    image_path: str, size: int = 512, device: str = "auto", face: int | None = None, cache_dir: str | None = None,
    keep: int = 2,
) -> Renderer:  # fmt: skip
    """A :class:`Renderer`, reused while the image file is unchanged (a long-lived worker re-renders often)."""
    path = os.path.abspath(os.fspath(image_path))
    st = os.stat(path) if os.path.isfile(path) else None
    key = (path, st.st_mtime_ns if st else None, st.st_size if st else None, size, str(pick_device(device)), face)
    with _RENDERERS_LOCK:
        if key in _RENDERERS:
            _RENDERERS.move_to_end(key)
            return _RENDERERS[key]
    renderer = Renderer(path, size=size, device=device, face=face, cache_dir=cache_dir)
    with _RENDERERS_LOCK:
        _RENDERERS[key] = renderer
        while len(_RENDERERS) > keep:
            _RENDERERS.popitem(last=False)
    return renderer
