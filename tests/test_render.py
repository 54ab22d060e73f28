"""Renderer tests on the real portrait with the real mediapipe face mesh, and the render/animate ops end to end."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import mediapipe as mp
import numpy as np
import pytest
from PIL import Image

from engine.errors import BadInput, Cancelled
from engine.formats import lips_document, pose_document
from engine.jobs import Job, run_op
from engine.render import Renderer
from engine.render.blinks import blink_curve
from engine.render.face import load_portrait

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "examples" / "portrait.png"
NEUTRAL = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
SIZE = 320


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(str(PORTRAIT), size=SIZE, device="cpu")


@pytest.fixture(scope="module")
def mesh():
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as m:
        yield m


def detect(mesh, frame: np.ndarray) -> np.ndarray:
    res = mesh.process(np.ascontiguousarray(frame[..., :3]))
    assert res.multi_face_landmarks, "no face found in the rendered frame"
    h, w = frame.shape[:2]
    return np.array([[p.x * w, p.y * h] for p in res.multi_face_landmarks[0].landmark])


def render_one(r: Renderer, pose=NEUTRAL, mouth=(0, 0, 0, 0), blink: float = 0.0) -> np.ndarray:
    return r.render_batch(np.array([pose], float), np.array([mouth], float), np.array([blink]))[0]


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.ndimage import gaussian_filter

    a = a[..., :3].mean(-1) / 255.0
    b = b[..., :3].mean(-1) / 255.0
    mu_a, mu_b = gaussian_filter(a, 1.5), gaussian_filter(b, 1.5)
    saa, sbb = gaussian_filter(a * a, 1.5) - mu_a**2, gaussian_filter(b * b, 1.5) - mu_b**2
    sab = gaussian_filter(a * b, 1.5) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    return float((((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))).mean())


def portrait_u8(r: Renderer) -> np.ndarray:
    return (np.clip(r.portrait.image, 0, 1) * 255 + 0.5).astype(np.uint8)


# ----- set-up -----
def test_face_mesh_on_portrait(renderer: Renderer) -> None:
    lm = renderer.portrait.landmarks
    assert lm.shape == (478, 3)
    w, h = renderer.portrait.size
    assert (w, h) == (SIZE, SIZE)
    assert 0.3 * w < lm[1, 0] < 0.7 * w and 0.2 * h < lm[1, 1] < 0.6 * h  # nose tip near the middle, upper half
    assert lm[1, 2] < lm[234, 2]  # the nose is nearer the viewer than the side of the face


def test_neutral_pose_reproduces_portrait(renderer: Renderer) -> None:
    frame = render_one(renderer)
    assert frame.shape == (SIZE, SIZE, 3) and frame.dtype == np.uint8
    assert ssim(frame, portrait_u8(renderer)) > 0.99
    # the warp path itself (tiny pose) is faithful too
    assert ssim(render_one(renderer, [0.05, 0, 0, 0, 0, 1.0]), portrait_u8(renderer)) > 0.97


def test_yaw_turns_face_toward_viewers_right_with_parallax(renderer: Renderer, mesh) -> None:
    base = detect(mesh, render_one(renderer))
    right = detect(mesh, render_one(renderer, [0, 12, 0, 0, 0, 1]))
    left = detect(mesh, render_one(renderer, [0, -12, 0, 0, 0, 1]))
    nose_shift = right[1, 0] - base[1, 0]
    assert nose_shift > 3 and left[1, 0] - base[1, 0] < -3
    assert nose_shift > 1.5 * abs(right[234, 0] - base[234, 0])  # the nose moves more than the face's side


def test_pitch_and_roll_directions(renderer: Renderer, mesh) -> None:
    base = detect(mesh, render_one(renderer))
    up = detect(mesh, render_one(renderer, [10, 0, 0, 0, 0, 1]))
    assert up[1, 1] < base[1, 1] - 2  # chin up: the nose rises on screen
    rolled = detect(mesh, render_one(renderer, [0, 0, 10, 0, 0, 1]))
    eye_l, eye_r = rolled[33], rolled[263]
    angle = np.degrees(np.arctan2(-(eye_r[1] - eye_l[1]), eye_r[0] - eye_l[0]))  # screen angle, y up
    base_angle = np.degrees(np.arctan2(-(base[263, 1] - base[33, 1]), base[263, 0] - base[33, 0]))
    assert 6 < angle - base_angle < 14  # counter-clockwise on screen


def test_translation_and_scale(renderer: Renderer, mesh) -> None:
    base = detect(mesh, render_one(renderer))
    moved = detect(mesh, render_one(renderer, [0, 0, 0, 0.2, 0.1, 1.0]))
    fh = np.linalg.norm(base[10] - base[152])
    assert moved[1, 0] - base[1, 0] == pytest.approx(0.2 * fh, rel=0.25)
    assert base[1, 1] - moved[1, 1] == pytest.approx(0.1 * fh, rel=0.35)
    bigger = detect(mesh, render_one(renderer, [0, 0, 0, 0, 0, 1.15]))
    assert np.linalg.norm(bigger[10] - bigger[152]) > 1.08 * fh


def test_background_corners_held_still(renderer: Renderer) -> None:
    still = render_one(renderer).astype(int)
    moved = render_one(renderer, [8, 15, -8, 0.1, 0.05, 1.05]).astype(int)
    k = SIZE // 10
    for ys, xs in ((slice(0, k), slice(0, k)), (slice(0, k), slice(-k, None))):
        assert np.abs(moved[ys, xs] - still[ys, xs]).max() <= 2
    assert np.abs(moved - still).mean() > 3  # while the head did move


def test_mouth_open_opens_and_darkens_the_mouth(renderer: Renderer, mesh) -> None:
    lm = renderer.portrait.landmarks
    closed = render_one(renderer)
    opened = render_one(renderer, mouth=(1, 0, 0, 0))
    a = detect(mesh, closed)
    b = detect(mesh, opened)
    assert np.linalg.norm(b[13] - b[14]) > np.linalg.norm(a[13] - a[14]) + 5
    # below the lower inner lip, between the corners: dark cavity where there was lip and chin
    x0, x1 = int(lm[78, 0] + 0.25 * (lm[308, 0] - lm[78, 0])), int(lm[78, 0] + 0.75 * (lm[308, 0] - lm[78, 0]))
    y0 = int(lm[14, 1]) + 1
    region = (slice(y0, y0 + 6), slice(x0, x1))
    assert opened[region].mean() < 0.6 * closed[region].mean()
    # the upper face is untouched by the mouth
    top = slice(0, int(lm[2, 1]) - 4)
    assert np.abs(opened[top].astype(int) - closed[top].astype(int)).max() <= 1


def test_lips_closed_and_blink(renderer: Renderer, mesh) -> None:
    a = detect(mesh, render_one(renderer))
    closed = detect(mesh, render_one(renderer, mouth=(0, 0, 0, 1)))
    assert np.linalg.norm(closed[13] - closed[14]) < 0.5 * np.linalg.norm(a[13] - a[14])
    blink = detect(mesh, render_one(renderer, blink=1.0))
    for up, low in ((159, 145), (386, 374)):
        assert np.linalg.norm(blink[up] - blink[low]) < 0.6 * np.linalg.norm(a[up] - a[low])


def test_blink_schedule() -> None:
    curve = blink_curve(25 * 60, 25.0, seed=3)
    starts = np.flatnonzero((curve[1:] > 0) & (curve[:-1] == 0)) + 1
    gaps = np.diff(starts) / 25.0
    assert len(starts) >= 10 and gaps.min() >= 1.9 and gaps.max() <= 6.2
    lengths = [np.count_nonzero(curve[s : s + 10] > 0) for s in starts]
    assert max(lengths) <= 5  # ~150 ms at 25 fps
    assert curve.max() == 1.0
    assert np.array_equal(curve, blink_curve(25 * 60, 25.0, seed=3))
    assert not np.array_equal(curve, blink_curve(25 * 60, 25.0, seed=4))


def test_render_iterates_batches(renderer: Renderer) -> None:
    pose = np.tile(NEUTRAL, (21, 1))
    chunks = list(renderer.render(pose, np.zeros((21, 1)), ["mouth_open"], fps=25, blinks=False, batch=8))
    assert [len(c) for c in chunks] == [8, 8, 5]


# ----- bad and unusual images -----
def test_no_face_is_bad_input(tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"
    Image.new("RGB", (300, 300), (128, 128, 128)).save(grey)
    with pytest.raises(BadInput, match="no face found in grey.png"):
        Renderer(str(grey), size=256, device="cpu")


def test_two_faces_need_a_choice(tmp_path: Path) -> None:
    img = Image.open(PORTRAIT).convert("RGB")
    two = Image.new("RGB", (img.width * 2, img.height))
    two.paste(img, (0, 0))
    two.paste(img, (img.width, 0))
    path = tmp_path / "two.png"
    two.save(path)
    with pytest.raises(BadInput, match="2 faces found.*--face N"):
        Renderer(str(path), size=256, device="cpu")
    right = Renderer(str(path), size=256, device="cpu", face=1)
    assert right.portrait.landmarks[1, 0] > right.width / 2
    assert (right.width, right.height) == (256, 128)
    with pytest.raises(BadInput, match="face 5 does not exist"):
        Renderer(str(path), size=256, device="cpu", face=5)


def test_rgba_alpha_is_kept(tmp_path: Path) -> None:
    img = Image.open(PORTRAIT).convert("RGBA")
    alpha = np.zeros((img.height, img.width), np.uint8)
    yy, xx = np.mgrid[: img.height, : img.width]
    alpha[((xx - img.width / 2) / (0.45 * img.width)) ** 2 + ((yy - img.height / 2) / (0.55 * img.height)) ** 2 < 1] = (
        255
    )
    img.putalpha(Image.fromarray(alpha))
    path = tmp_path / "rgba.png"
    img.save(path)
    r = Renderer(str(path), size=256, device="cpu")
    frame = render_one(r, [0, 10, 0, 0, 0, 1], mouth=(0.8, 0, 0, 0))
    assert frame.shape == (256, 256, 4)
    assert frame[0, 0, 3] == 0 and frame[128, 128, 3] == 255


def test_large_non_square_off_centre_portrait(tmp_path: Path, mesh) -> None:
    img = Image.open(PORTRAIT).convert("RGB")
    canvas = Image.new("RGB", (1800, 1000), (90, 110, 140))
    canvas.paste(img.resize((900, 900)), (850, 60))  # face right of centre
    big = canvas.resize((4000, 2222))
    path = tmp_path / "big.png"
    big.save(path, compress_level=1)
    r = Renderer(str(path), size=400, device="cpu")
    assert (r.width, r.height) == (400, 222)
    frame = render_one(r, [0, 10, 0, 0, 0, 1], mouth=(0.6, 0, 0, 0))
    assert frame.shape == (222, 400, 3)
    assert detect(mesh, frame)[1, 0] > 200


def test_missing_and_broken_images(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="not found"):
        Renderer(str(tmp_path / "nope.png"), device="cpu")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(BadInput, match="cannot read image"):
        Renderer(str(bad), device="cpu")


def test_disk_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    p1 = load_portrait(str(PORTRAIT), size=200, cache_dir=str(cache))
    files = list(cache.glob("face-*.npz"))
    assert len(files) == 1
    p2 = load_portrait(str(PORTRAIT), size=210, cache_dir=str(cache))  # other size: new set-up, cached landmarks
    assert np.allclose(p1.landmarks[:, :2] * 210 / 200, p2.landmarks[:, :2], atol=1.0)


# ----- ops -----
def _docs(n: int, fps: float = 25.0) -> tuple[dict, dict]:
    t = np.arange(n) / fps
    pose = np.stack([3 * np.sin(3 * t), 10 * np.sin(2 * t), np.zeros(n), np.zeros(n), np.zeros(n), np.ones(n)], 1)
    lips = np.stack([np.clip(np.sin(8 * t), 0, 1), np.zeros(n)], 1)
    return pose_document(pose, fps), lips_document(lips, ["mouth_open", "lips_closed"], fps)


def test_render_op_writes_frames_and_mp4(tmp_path: Path, espeak) -> None:
    wav = espeak("Hello there.")
    pose, lips = _docs(20)
    out = tmp_path / "frames"
    video = tmp_path / "talk.mp4"
    seen: list[int] = []
    job = Job("t", lambda d, t, m: seen.append(d))
    res = run_op("render", {"image": str(PORTRAIT), "pose": pose, "lips": lips, "audio": str(wav), "size": 256,
                            "out": str(out), "video": str(video), "device": "cpu"}, job)  # fmt: skip
    assert res["n_frames"] == 20 and res["fps"] == 25.0 and res["pattern"] == "frame_%05d.png"
    files = sorted(os.listdir(out))
    assert files == [f"frame_{i:05d}.png" for i in range(1, 21)]
    assert Image.open(out / files[0]).size == (256, 256)
    assert max(seen) == 20
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height,pix_fmt",
                            "-of", "json", str(video)], capture_output=True, text=True, check=True)  # fmt: skip
    streams = json.loads(probe.stdout)["streams"]
    assert {s["codec_name"] for s in streams} == {"h264", "aac"}
    v = next(s for s in streams if s["codec_name"] == "h264")
    assert (v["width"], v["height"], v["pix_fmt"]) == (256, 256, "yuv420p")


def test_render_op_cancel_leaves_nothing(tmp_path: Path) -> None:
    pose, _lips = _docs(40)
    out = tmp_path / "frames"
    video = tmp_path / "v.mp4"

    def progress(done: int, total: int, message: str) -> None:
        if done >= 10:
            job.cancel()

    job = Job("c", progress)
    with pytest.raises(Cancelled):
        run_op("render", {"image": str(PORTRAIT), "pose": pose, "size": 128, "out": str(out), "video": str(video),
                          "batch": 4, "device": "cpu"}, job)  # fmt: skip
    assert not video.exists()
    assert not out.exists()
    # into an existing folder with an earlier render: the earlier frames stay as they were
    out.mkdir()
    (out / "frame_00001.png").write_bytes(b"earlier")
    job = Job("c2", progress)
    with pytest.raises(Cancelled):
        run_op("render", {"image": str(PORTRAIT), "pose": pose, "size": 128, "out": str(out), "batch": 4,
                          "device": "cpu"}, job)  # fmt: skip
    assert [p.name for p in out.iterdir()] == ["frame_00001.png"]
    assert (out / "frame_00001.png").read_bytes() == b"earlier"


def test_render_op_bad_params(tmp_path: Path) -> None:
    pose, _ = _docs(5)
    job = Job("b")
    with pytest.raises(BadInput, match="image file not found"):
        run_op("render", {"image": str(tmp_path / "x.png"), "pose": pose, "out": str(tmp_path / "o")}, job)
    with pytest.raises(BadInput, match="pose"):
        run_op("render", {"image": str(PORTRAIT), "pose": {"format": "nope"}, "out": str(tmp_path / "o")}, job)
    with pytest.raises(BadInput, match="size"):
        run_op("render", {"image": str(PORTRAIT), "pose": pose, "size": 3, "out": str(tmp_path / "o")}, job)
    assert not (tmp_path / "o").exists()


def test_animate_op(tmp_path: Path, speech_wav: Path) -> None:
    out = tmp_path / "talk.mp4"
    res = run_op("animate", {"image": str(PORTRAIT), "audio": str(speech_wav), "prompt": "nods calmly", "seed": 1,
                             "size": 192, "out": str(out), "device": "cpu"}, Job("a"))  # fmt: skip
    assert out.is_file() and res["video"] == str(out) and res["n_frames"] > 100
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                            "stream=nb_read_frames", "-of", "csv=p=0", str(out)], capture_output=True, text=True,
                           check=True)  # fmt: skip
    assert int(probe.stdout.strip()) == res["n_frames"]
    assert [p.name for p in tmp_path.iterdir()] == ["talk.mp4"]


def test_cli_render_and_no_face(tmp_path: Path, run_engine) -> None:
    pose, lips = _docs(6)
    (tmp_path / "pose.json").write_text(json.dumps(pose))
    (tmp_path / "lips.json").write_text(json.dumps(lips))
    args = ["render", "--image", str(PORTRAIT), "--pose", str(tmp_path / "pose.json"), "--lips",
            str(tmp_path / "lips.json"), "--size", "128", "--out", str(tmp_path / "frames"), "--device", "cpu"]  # fmt: skip
    proc = run_engine(*args)
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "frames").glob("frame_*.png"))) == 6
    grey = tmp_path / "grey.png"
    Image.new("RGB", (200, 200), (128, 128, 128)).save(grey)
    args[2] = str(grey)
    args[-3] = str(tmp_path / "frames2")
    proc = run_engine(*args)
    assert proc.returncode == 2
    assert "no face found in grey.png" in proc.stderr
    assert not (tmp_path / "frames2").exists()


def test_portrait_with_turned_head(tmp_path: Path, mesh) -> None:
    """A portrait whose face is already turned ~22° still gets a face mesh and renders turning back."""
    turned = Renderer(str(PORTRAIT), size=512, device="cpu")
    frame = render_one(turned, [0, 22, 0, 0, 0, 1])
    path = tmp_path / "turned.png"
    Image.fromarray(frame).save(path)
    r = Renderer(str(path), size=256, device="cpu")
    base = detect(mesh, render_one(r))
    back = detect(mesh, render_one(r, [0, -15, 0, 0, 0, 1], mouth=(0.5, 0, 0, 0)))
    assert back[1, 0] < base[1, 0] - 3


def test_exif_orientation_and_16_bit(tmp_path: Path) -> None:
    img = Image.open(PORTRAIT).convert("RGB")
    wide = Image.new("RGB", (img.width * 2, img.height), (120, 130, 140))
    wide.paste(img, (img.width // 2, 0))
    stored = wide.transpose(Image.Transpose.ROTATE_90)  # stored on its side, EXIF says: turn it back
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif.tobytes(), quality=95)
    r = Renderer(str(path), size=256, device="cpu")
    assert (r.width, r.height) == (256, 128)
    grey16 = tmp_path / "grey16.png"
    arr = (np.asarray(img.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(arr).save(grey16)
    r16 = Renderer(str(grey16), size=200, device="cpu")
    frame = render_one(r16)
    assert frame.shape == (200, 200, 3) and 60 < frame.mean() < 200
