"""The mouth: opening calibrated in millimetres of the face, the interior, closing lips, rounding and spreading,
the tongue from the visemes; on real portraits with the real face mesh and real espeak-ng speech."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import mediapipe as mp
import numpy as np
import pytest
import soundfile as sf
import soxr
from PIL import Image

from engine.formats import lips_document, pose_document
from engine.jobs import Job, run_op
from engine.lips import generate_lips, mark_tongue_tip
from engine.mouth_calibration import APERTURE_MM_PER_UNIT, IPD_MM, parted_opening
from engine.phonemes import PhoneSegment
from engine.render import Renderer
from engine.render.renderer import tongue_track

ROOT = Path(__file__).resolve().parents[1]
TOOTHY = ROOT / "examples" / "portrait.png"
CLOSED = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
NEUTRAL = [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]


@pytest.fixture(scope="module")
def mesh():
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as m:
        yield m


@pytest.fixture(scope="module")
def toothy() -> Renderer:
    return Renderer(str(TOOTHY), size=384, device="cpu")


@pytest.fixture(scope="module")
def closed_lips() -> Renderer:
    return Renderer(str(CLOSED), size=384, device="cpu")


def render_one(r: Renderer, mouth=(0, 0, 0, 0), tongue: float | None = None) -> np.ndarray:
    t = None if tongue is None else np.array([tongue])
    return r.render_batch(np.array([NEUTRAL]), np.array([mouth], float), np.zeros(1), t)[0]


def detect(mesh, frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    res = mesh.process(np.ascontiguousarray(frame[y0:y1, x0:x1, :3]))
    assert res.multi_face_landmarks, "no face found in the rendered frame"
    return np.array([[p.x * (x1 - x0) + x0, p.y * (y1 - y0) + y0] for p in res.multi_face_landmarks[0].landmark])


def face_box(r: Renderer) -> tuple[int, int, int, int]:
    lm = r.portrait.landmarks
    c, half = lm[:, :2].mean(0), 0.8 * float(np.linalg.norm(lm[10, :2] - lm[152, :2]))
    return max(0, int(c[0] - half)), max(0, int(c[1] - half)), min(r.width, int(c[0] + half)), min(r.height,
                                                                                                   int(c[1] + half))  # fmt: skip


def aperture_mm(mesh, r: Renderer, mouth) -> float:
    """The inner-lip distance of the re-detected frame in millimetres (interpupillary distance = 63 mm)."""
    lm = detect(mesh, render_one(r, mouth), face_box(r))
    return float(np.linalg.norm(lm[13] - lm[14]) / np.linalg.norm(lm[468] - lm[473]) * IPD_MM)


def lum(px: np.ndarray) -> np.ndarray:
    return px[..., :3].astype(float).mean(-1)


# ----- the opening in millimetres of the face -----
def test_aperture_in_face_units_holds_for_any_face_size(toothy: Renderer, tmp_path: Path, mesh) -> None:
    img = Image.open(TOOTHY).convert("RGB")
    wide = Image.new("RGB", (1600, 900), (96, 104, 120))
    wide.paste(img.resize((700, 700)), (420, 200))
    path = tmp_path / "small_face.png"
    wide.save(path)
    small = Renderer(str(path), size=640, device="cpu")  # the face about half as many pixels as in ``toothy``
    assert small.refiner.mm < 0.75 * toothy.refiner.mm
    opened = {}
    for name, r in (("large", toothy), ("small", small)):
        rest = aperture_mm(mesh, r, (0, 0, 0, 0))
        opened[name] = aperture_mm(mesh, r, (0.4, 0, 0, 0)) - rest
        # the smile's parted lips (about 10 mm) count toward the speech's aperture
        want = parted_opening(0.4 * APERTURE_MM_PER_UNIT, r.refiner.rest_gap / r.refiner.mm)
        assert 0.6 * want < opened[name] < 1.3 * want, (name, opened[name], want)
    assert opened["small"] == pytest.approx(opened["large"], rel=0.25)


def test_rest_gap_counts_toward_the_speech_aperture(toothy: Renderer, closed_lips: Renderer, mesh) -> None:
    """The same ``mouth_open`` parts closed lips by the calibrated aperture, and a smile's lips (parted at rest)
    by a share of it: the total aperture is more than either alone, well below their sum."""
    speech = 0.4 * APERTURE_MM_PER_UNIT
    closed = aperture_mm(mesh, closed_lips, (0.4, 0, 0, 0)) - aperture_mm(mesh, closed_lips, (0, 0, 0, 0))
    assert 0.75 * speech < closed < 1.25 * speech
    rest = aperture_mm(mesh, toothy, (0, 0, 0, 0))
    assert rest > 6.0  # the toothy portrait's lips are parted at rest
    total = aperture_mm(mesh, toothy, (0.4, 0, 0, 0))
    assert max(rest, speech) < total < 0.85 * (rest + speech), (rest, total)


def test_speech_at_strength_one_opens_like_conversation(espeak) -> None:
    """Ordinary speech: 90th percentile of the opening about 10-15 mm, never a shout; louder lines open more;
    strength 2 is stylised and opens further."""
    lines = ["Could you pass me the salt, please?", "I think the train leaves at half past nine."]
    parts = []
    for i, text in enumerate(lines * 2):
        audio, sr = sf.read(str(espeak(text)), dtype="float32")
        gain = 10 ** (10 / 20) if i % 2 else 1.0  # every second line 10 dB louder
        parts += [soxr.resample(audio, sr, 16000) * gain, np.zeros(6400, np.float32)]
    audio = np.concatenate(parts)
    audio *= 0.9 / np.abs(audio).max()
    duration = len(audio) / 16000
    frames, _, visemes = generate_lips(audio, duration, 25.0)
    mm = frames[:, 0] * APERTURE_MM_PER_UNIT
    assert 6.0 <= np.percentile(mm, 90) <= 16.0
    assert mm.max() <= 22.0
    # the louder lines open more than the others
    bounds = np.cumsum([0] + [len(p) for p in parts]) / 16000
    loud, quiet = [], []
    for i in range(len(lines) * 2):
        a, b = int(bounds[2 * i] * 25), int(bounds[2 * i + 1] * 25)
        (loud if i % 2 else quiet).append(mm[a:b])
    assert np.percentile(np.concatenate(loud), 90) > 1.15 * np.percentile(np.concatenate(quiet), 90)
    stylised, _, _ = generate_lips(audio, duration, 25.0, strength=2.0)
    assert np.percentile(stylised[:, 0], 90) > 1.6 * np.percentile(frames[:, 0], 90)


# ----- the interior -----
def test_teeth_of_a_smile_are_kept(toothy: Renderer) -> None:
    lm = toothy.portrait.landmarks
    rest = render_one(toothy)
    opened = render_one(toothy, (0.6, 0, 0, 0))  # the lower lip drops about 10 mm below the smile's rest gap
    x0, x1 = int(lm[78, 0] + 0.3 * (lm[308, 0] - lm[78, 0])), int(lm[78, 0] + 0.7 * (lm[308, 0] - lm[78, 0]))
    y0, y1 = int(lm[13, 1]) + 2, int((lm[13, 1] + lm[14, 1]) / 2)  # the upper half of the smile's gap: teeth
    teeth = (slice(y0, y1), slice(x0, x1))
    assert lum(rest[teeth]).mean() > 150  # the portrait shows its teeth there ...
    assert np.abs(opened[teeth].astype(int) - rest[teeth].astype(int)).mean() < 8  # ... and they stay put
    below = (slice(int(lm[14, 1]) + 2, int(lm[14, 1]) + 6), slice(x0, x1))  # the lower lip dropped: the cavity
    assert lum(opened[below]).mean() < 0.6 * lum(rest[below]).mean()


def test_closed_lips_open_onto_shaded_teeth_and_a_cavity(closed_lips: Renderer) -> None:
    r = closed_lips
    lm = r.portrait.landmarks
    frame = render_one(r, (0.4, 0, 0, 0)).astype(float)
    cx = int(round((lm[13, 0] + lm[14, 0]) / 2))
    col = frame[int(lm[13, 1]) - 6 : int(lm[14, 1]) + int(14 * r.refiner.mm), cx - 12 : cx + 13]
    luma = lum(col)
    rows = luma.mean(1)
    top = int(np.argmax(rows))  # the teeth, just under the upper lip
    assert rows[top] > 120
    assert rows[top:].min() < 0.4 * rows[top]  # a dark cavity below them
    teeth_row = luma[top]
    assert teeth_row.max() - teeth_row.min() > 12  # shaded crowns and gaps between them, not a flat band
    red = frame[..., 0] - frame[..., 2]
    cavity = red[int(lm[13, 1]) - 6 + top + 3 : int(lm[14, 1]) + 8, cx - 4 : cx + 5]
    assert cavity.mean() > 5  # a warm, fleshy dark, not grey


def test_tongue_tip_shows_on_tongue_visemes(closed_lips: Renderer) -> None:
    r = closed_lips
    plain = render_one(r, (0.35, 0.2, 0, 0), tongue=0.0).astype(float)
    tongue = render_one(r, (0.35, 0.2, 0, 0), tongue=1.0).astype(float)
    diff = np.abs(tongue - plain).sum(-1)
    lm = r.portrait.landmarks
    assert diff[: int(lm[13, 1]) - 4].max() == 0  # only inside the mouth
    changed = diff > 30
    assert changed.sum() > 20
    assert (tongue[changed, 0] - tongue[changed, 2]).mean() > 25  # pink-red
    # visemes → per-frame tongue: H (l) and entries marked "tongue", eased in and out; unknown entries ignored
    track = tongue_track([{"start": 0.2, "end": 0.6, "shape": "H"}, {"start": 1.0, "end": 1.4, "shape": "B",
                          "tongue": True}, {"start": 1.6, "end": 1.9, "shape": "D"}, {"bad": 1}], 50, 25.0)  # fmt: skip
    assert track[10] == pytest.approx(1.0) and track[30] == pytest.approx(1.0)
    assert track[:3].max() == 0 and track[20:23].max() == 0 and track[41:48].max() == 0
    assert 0 < track[5] < 1  # eased
    assert tongue_track(None, 4, 25.0).tolist() == [0, 0, 0, 0]


def test_tongue_tip_phones_mark_visemes() -> None:
    visemes = [{"start": 0.0, "end": 0.3, "shape": "B"}, {"start": 0.3, "end": 0.5, "shape": "A"}]
    segs = [PhoneSegment("s", 0.0, 0.1), PhoneSegment("tʰ", 0.1, 0.2), PhoneSegment("m", 0.3, 0.5)]
    marked = mark_tongue_tip(visemes, segs)
    assert [(v["start"], v["end"], v.get("tongue", False)) for v in marked] == [
        (0.0, 0.1, False), (0.1, 0.2, True), (0.2, 0.3, False), (0.3, 0.5, False)]  # fmt: skip
    assert mark_tongue_tip(visemes, [PhoneSegment("n", 0.3, 0.5)]) == visemes  # closed lips show no tongue


def test_render_op_passes_visemes_to_the_renderer(tmp_path: Path) -> None:
    n = 3
    pose = pose_document(np.tile(NEUTRAL, (n, 1)), 25.0)
    frames = np.tile([0.35, 0.2, 0.0, 0.0], (n, 1))
    outs = {}
    for name, vis in (("plain", [{"start": 0.0, "end": 1.0, "shape": "C"}]),
                      ("tongue", [{"start": 0.0, "end": 1.0, "shape": "C", "tongue": True}])):  # fmt: skip
        lips = lips_document(frames, ["mouth_open", "mouth_wide", "mouth_round", "lips_closed"], 25.0, vis)
        out = tmp_path / name
        run_op("render", {"image": str(CLOSED), "pose": pose, "lips": lips, "size": 256, "out": str(out),
                          "device": "cpu", "blinks": False}, Job("t"))  # fmt: skip
        outs[name] = np.asarray(Image.open(out / "frame_00002.png")).astype(int)
    assert np.abs(outs["tongue"] - outs["plain"]).max() > 30


# ----- closing, rounding, spreading -----
def test_pressed_lips_leave_no_seam(toothy: Renderer) -> None:
    """The smile's lips pressed together: the line where they meet is not paler than the lips on either side of
    it (no line of squeezed teeth), at most a little darker, as closed lips are, and of the lips' own colour."""
    lm = toothy.portrait.landmarks
    frame = render_one(toothy, (0, 0, 0, 1)).astype(float)
    x0, x1 = int(lm[78, 0] + 0.25 * (lm[308, 0] - lm[78, 0])), int(lm[78, 0] + 0.75 * (lm[308, 0] - lm[78, 0]))
    rest = render_one(toothy).astype(float)
    gap = rest[int(lm[13, 1]) + 1 : int(lm[14, 1]), x0:x1]
    assert lum(gap).mean() > 180  # at rest the smile shows its teeth here
    luma = lum(frame[:, x0:x1])
    top, bottom = int(round(lm[13, 1])) - 2, int(round(lm[14, 1])) + 3
    meet = top + np.argmin(luma[top:bottom].mean(1))  # the meeting line: the darkest row between the lips
    line = luma[meet - 1 : meet + 2].mean(0)
    lips = (luma[meet - 4 : meet - 2].mean(0) + luma[meet + 3 : meet + 5].mean(0)) / 2
    seam = line - lips  # per column: > 0 would be a pale seam
    assert np.median(seam) <= 0 and np.percentile(seam, 90) < 10
    assert line.mean() >= 0.75 * lips.mean()  # a soft contact line, not a dark gash
    hue = frame[meet - 1 : meet + 2, x0:x1, 0] - frame[meet - 1 : meet + 2, x0:x1, 2]
    lip_hue = np.concatenate([frame[meet - 4 : meet - 2, x0:x1], frame[meet + 3 : meet + 5, x0:x1]])
    assert abs(hue.mean() - (lip_hue[..., 0] - lip_hue[..., 2]).mean()) < 15  # the lips' own colour


def test_rounding_narrows_and_spreading_widens(closed_lips: Renderer, mesh) -> None:
    box = face_box(closed_lips)

    def width(mouth) -> float:
        lm = detect(mesh, render_one(closed_lips, mouth), box)
        return float(np.linalg.norm(lm[61] - lm[291]))

    base = width((0.15, 0, 0, 0))
    assert width((0.15, 0, 1.0, 0)) < 0.9 * base
    assert width((0.15, 1.0, 0, 0)) > 1.03 * base
