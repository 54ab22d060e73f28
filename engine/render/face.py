"""Portrait set-up: load the image, find the face with mediapipe's face mesh, segment the person.

The result (:class:`Portrait`) is everything the renderer needs per portrait and is cached in memory
(LRU keyed by path, mtime, size and options) and optionally on disk as ``.npz``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .. import native
from ..errors import BadInput

DETECT_MAX = 1024  # longest side the detector sees; larger images are downscaled for it
SMALL_FACE = 0.45  # a face shorter than this share of the image's shorter side is measured again on a crop around it
CROP_FACES = 2.4  # that crop's side, in face heights
MAX_PIXELS = 20000 * 20000
_LOCK = threading.Lock()
_CACHE: OrderedDict[tuple, Portrait] = OrderedDict()
_DETECTED: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()  # by disk_key, without a cache_dir
_CACHE_SIZE = 4


@dataclass
class Portrait:
    """A portrait at working size: ``image`` (H, W, C) float32 0..1 (C = 3 or 4), ``landmarks`` (478, 3) in
    working pixels (x right, y down, z like mediapipe: more negative is nearer the viewer, same unit as x),
    ``person`` (H, W) soft mask of the person (head, hair, body)."""

    image: np.ndarray
    landmarks: np.ndarray
    person: np.ndarray
    path: str

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]

    @property
    def has_alpha(self) -> bool:
        return self.image.shape[2] == 4


def working_size(width: int, height: int, size: int) -> tuple[int, int]:
    """Longest side ``size``, aspect kept, both sides even (video encoders need it)."""
    scale = size / max(width, height)
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


def read_image(path: str) -> Image.Image:
    """Open an image file as RGB or RGBA; BadInput when it is missing or not an image."""
    if not path or not os.path.isfile(path):
        raise BadInput(f"image file not found: {path}")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise BadInput(f"cannot read image {path}: {exc}") from None
    img = ImageOps.exif_transpose(img)  # phone photos: show it the way it is displayed
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit / float greyscale: scale to 8 bits
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(arr * (255.0 / max(float(arr.max()), 1e-9)), 0, 255).astype(np.uint8))
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa") or (img.mode == "P" and "transparency" in img.info)
    return img.convert("RGBA" if has_alpha else "RGB")


def face_mesh(static: bool, max_faces: int = 1) -> Any:
    """mediapipe's face mesh with refined landmarks (478 points): for single images (``static``) or for the frames
    of a video, where it tracks each face from the last frame and runs the face detector only to find it again.
    Its ``process`` calls belong inside :func:`engine.native.quiet_stderr`."""
    with native.quiet_stderr():
        mesh = native.mediapipe().solutions.face_mesh.FaceMesh(
            static_image_mode=static, max_num_faces=max_faces, refine_landmarks=True, min_detection_confidence=0.5
        )
        # the graph starts its models (and TFLite prints) on its own threads at the first frame: a blank frame
        # here makes that happen while stderr is quiet (it finds no face, so no tracking state is left)
        mesh.process(np.zeros((64, 64, 3), dtype=np.uint8))
    return mesh


def faces_of(result: Any, size: tuple[int, int] = (1, 1)) -> list[np.ndarray]:
    """The faces of a face-mesh result as (478, 3) landmarks scaled by ``size`` = (w, h) (z by w), left to right."""
    w, h = size
    scale = np.array([w, h, w], dtype=np.float64)
    faces = [
        np.array([[p.x, p.y, p.z] for p in f.landmark], dtype=np.float64) * scale
        for f in result.multi_face_landmarks or []
    ]
    return sorted(faces, key=lambda f: float(f[:, 0].mean()))


def _face_mesh() -> Any:
    return face_mesh(static=True, max_faces=8)


def _mesh_faces(rgb: np.ndarray, mesh: Any = None) -> list[np.ndarray]:
    """All faces in ``rgb`` (uint8 H, W, 3) as (478, 3) normalized landmarks, sorted left to right (``mesh``: a
    face mesh to reuse, else one is made for this call)."""
    if mesh is None:
        with _face_mesh() as own:
            return _mesh_faces(rgb, own)
    with native.quiet_stderr():
        result = mesh.process(np.ascontiguousarray(rgb))
    return [f.astype(np.float32) for f in faces_of(result)]


def _segment_person(rgb: np.ndarray) -> np.ndarray:
    """Soft person mask (H, W) in 0..1 from mediapipe's selfie segmentation."""
    selfie_segmentation = native.mediapipe().solutions.selfie_segmentation
    with native.quiet_stderr(), selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        mask = seg.process(np.ascontiguousarray(rgb)).segmentation_mask
    return np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0)


def _as_rgb(img: Image.Image) -> np.ndarray:
    """uint8 RGB for the detector; RGBA composited over grey, not over black."""
    rgba = np.asarray(img)
    rgb = rgba[..., :3]
    if rgba.shape[2] == 4:
        a = rgba[..., 3:4].astype(np.float32) / 255.0
        rgb = (rgb * a + 128.0 * (1.0 - a)).astype(np.uint8)
    return rgb


def _faces_in_tiles(img: Image.Image) -> list[np.ndarray]:
    """Faces too small for the detector on the whole picture: look in overlapping square tiles (the shorter side,
    then half of it), each at up to ``DETECT_MAX``; landmarks normalized to ``img``, one per face, left to right."""
    w, h = img.size
    found: list[np.ndarray] = []
    with native.quiet_stderr(), _face_mesh() as mesh:
        for side in (min(w, h), min(w, h) // 2):
            if side < 64 or found:
                break
            _scan(img, side, mesh, found)
    return sorted(found, key=lambda f: float(f[:, 0].mean()))


def _scan(img: Image.Image, side: int, mesh, found: list[np.ndarray]) -> None:
    """Add the faces in square tiles of ``side`` (half overlapping) to ``found``, skipping ones already there."""
    w, h = img.size
    step = side // 2
    for y0 in range(0, max(1, h - side + step), step):
        for x0 in range(0, max(1, w - side + step), step):
            x0c, y0c = min(x0, w - side), min(y0, h - side)
            tile = img.crop((x0c, y0c, x0c + side, y0c + side))
            tile.thumbnail((DETECT_MAX, DETECT_MAX), Image.LANCZOS)
            for f in _mesh_faces(_as_rgb(tile), mesh):
                g = f.copy()
                g[:, 0] = (f[:, 0] * side + x0c) / w
                g[:, 1] = (f[:, 1] * side + y0c) / h
                g[:, 2] = f[:, 2] * side / w
                size = float(np.linalg.norm((g[10, :2] - g[152, :2]) * (w, h)))
                if all(np.linalg.norm((g[1, :2] - o[1, :2]) * (w, h)) > 0.5 * size for o in found):
                    found.append(g)


def _refine_small_face(img: Image.Image, lm: np.ndarray) -> np.ndarray:
    """Landmarks (normalized to ``img``) of a face that is small in the picture, measured again on a square crop of
    the full-resolution image around it: the detector then sees a large face, and the mesh (lip edges, a smile's
    teeth) comes out as precise as on a close portrait. The first estimate is kept if the crop finds no face."""
    w, h = img.size
    xy = lm[:, :2] * np.array([w, h])
    face_h = float(np.linalg.norm(xy[10] - xy[152]))
    if face_h >= SMALL_FACE * min(w, h):
        return lm
    centre = xy.mean(axis=0)
    half = CROP_FACES * face_h / 2
    x0, y0 = int(max(0, centre[0] - half)), int(max(0, centre[1] - half))
    x1, y1 = int(min(w, centre[0] + half)), int(min(h, centre[1] + half))
    crop = img.crop((x0, y0, x1, y1))
    crop.thumbnail((DETECT_MAX, DETECT_MAX), Image.LANCZOS)
    faces = _mesh_faces(_as_rgb(crop))
    if not faces:
        return lm
    cw, ch = x1 - x0, y1 - y0
    best = min(faces, key=lambda f: float(np.linalg.norm(f[:, :2].mean(0) * np.array([cw, ch]) + (x0, y0) - centre)))
    out = best.copy()
    out[:, 0] = (best[:, 0] * cw + x0) / w
    out[:, 1] = (best[:, 1] * ch + y0) / h
    out[:, 2] = best[:, 2] * cw / w
    return out


def detect(path: str, face: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks (478, 3) normalized to the image (z in units of the width) and the person mask at detection
    size. BadInput when there is no face, or several and ``face`` is not given."""
    img = read_image(path)
    det = img.copy()
    det.thumbnail((DETECT_MAX, DETECT_MAX), Image.LANCZOS)
    rgba = np.asarray(det)
    rgb = _as_rgb(det)
    name = os.path.basename(path)
    faces = _mesh_faces(rgb) or _faces_in_tiles(img)
    if not faces:
        raise BadInput(f"no face found in {name}")
    if face is None:
        if len(faces) > 1:
            raise BadInput(
                f"{len(faces)} faces found in {name}: choose one with --face N (the face parameter of the worker), "
                f"0 .. {len(faces) - 1} from left to right"
            )
        face = 0
    if not 0 <= int(face) < len(faces):
        raise BadInput(f"face {face} does not exist in {name}: {len(faces)} face(s) found (0..{len(faces) - 1})")
    person = _segment_person(rgb)
    if rgba.shape[2] == 4:
        person = np.minimum(person, rgba[..., 3].astype(np.float32) / 255.0)
    return _refine_small_face(img, faces[int(face)]), person


def disk_key(path: str, face: int | None) -> str:
    """The name under which what is measured of a portrait file's face is kept in a cache folder."""
    st = os.stat(path)
    raw = f"{os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}|{face}|v2"
    return hashlib.sha1(raw.encode()).hexdigest()[:20]


def _detect_cached(path: str, face: int | None, cache_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`detect`, kept in ``cache_dir`` between runs, or without one in memory for any working size (the
    renderer and its turn measurement load one file at two sizes)."""
    key = disk_key(path, face)
    if cache_dir:
        return _detect_on_disk(path, face, cache_dir, key)
    with _LOCK:
        if key in _DETECTED:
            _DETECTED.move_to_end(key)
            return _DETECTED[key]
    found = detect(path, face)
    with _LOCK:
        _DETECTED[key] = found
        while len(_DETECTED) > _CACHE_SIZE:
            _DETECTED.popitem(last=False)
    return found


def _detect_on_disk(path: str, face: int | None, cache_dir: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    file = os.path.join(cache_dir, f"face-{key}.npz")
    if os.path.isfile(file):
        try:
            with np.load(file) as data:
                return data["landmarks"], data["person"]
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is simply recomputed
    landmarks, person = detect(path, face)
    try:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = f"{file}.{os.getpid()}.tmp.npz"
        np.savez_compressed(tmp, landmarks=landmarks, person=person)
        os.replace(tmp, file)
    except OSError:
        pass  # caching is best effort
    return landmarks, person


def load_portrait(path: str, size: int = 512, face: int | None = None, cache_dir: str | None = None) -> Portrait:
    """The portrait at working size (longest side ``size``) with its face landmarks and person mask."""
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise BadInput(f"image file not found: {path}")
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size, int(size), face)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    landmarks, person = _detect_cached(path, face, cache_dir)
    img = read_image(path)
    w, h = working_size(img.width, img.height, size)
    image = np.asarray(img.resize((w, h), Image.LANCZOS), dtype=np.float32) / 255.0
    person = np.asarray(Image.fromarray(person).resize((w, h), Image.BILINEAR), dtype=np.float32)
    lm = landmarks.astype(np.float32) * np.array([w, h, w], dtype=np.float32)
    portrait = Portrait(image=image, landmarks=lm, person=np.clip(person, 0.0, 1.0), path=path)
    with _LOCK:
        _CACHE[key] = portrait
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return portrait
