"""Training pairs from talking videos (scripts/extract_poses.py): a video rendered by the engine with a known
pose is measured back with the real face mesh, and the result trains with scripts/train_pose.py."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
FPS = 25.0


@pytest.fixture(scope="module")
def known_video(espeak, tmp_path_factory) -> tuple[Path, np.ndarray]:
    """An MP4 of the bundled portrait moving by a known pose (closed mouth, no blinks), with speech."""
    tmp = tmp_path_factory.mktemp("video")
    wav = espeak("Tonight we look back at the harbour, the ships and the people who built the town.", rate=150)
    n = math.ceil(sf.info(str(wav)).duration * FPS - 1e-9)
    t = np.arange(n) / FPS
    pose = np.zeros((n, 6))
    pose[:, 0] = 6.0 * np.sin(2 * np.pi * 0.7 * t)
    pose[:, 1] = 11.0 * np.sin(2 * np.pi * 0.4 * t)
    pose[:, 2] = 4.0 * np.sin(2 * np.pi * 0.3 * t)
    pose[:, 3] = 0.04 * np.sin(2 * np.pi * 0.5 * t)
    pose[:, 5] = 1.0 + 0.03 * np.sin(2 * np.pi * 0.25 * t)
    doc = {"format": "posetalk.pose/1", "fps": FPS, "channels": ["pitch", "yaw", "roll", "x", "y", "scale"]}
    (tmp / "pose.json").write_text(json.dumps({**doc, "frames": pose.round(5).tolist()}))
    video = tmp / "talk.mp4"
    cmd = [sys.executable, "-m", "engine", "render", "--image", str(ROOT / "examples" / "portrait.png")]
    cmd += ["--audio", str(wav), "--pose", str(tmp / "pose.json"), "--size", "384", "--no-blinks"]
    cmd += ["--out", str(tmp / "frames"), "--video", str(video)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=600)
    return video, pose


def extract(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "scripts/extract_poses.py", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_known_motion_is_measured_back(known_video, tmp_path):
    video, truth = known_video
    (video.with_suffix(".txt")).write_text("looks around while talking\nturns the head this way and that\n")
    out = tmp_path / "real.npz"
    proc = extract("--video", str(video), "--reference", "first", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["clips"] == 1 and report["videos"][0]["face_found"] > 0.95
    d = np.load(out)
    got = d["poses"]
    n = min(len(got), len(truth))
    assert abs(len(got) - len(truth)) <= 2 and len(d["features"]) == len(got)
    err = np.abs(got[5:n] - truth[5:n]).mean(axis=0)
    assert err[:3].max() < 2.0, err  # degrees, the renderer's own accuracy target
    assert err[3] < 0.03 and err[5] < 0.02, err  # x in face heights, scale
    assert np.corrcoef(got[:n, 1], truth[:n, 1])[0, 1] > 0.97
    assert sorted(str(t) for t in d["texts"]) == ["looks around while talking", "turns the head this way and that"]
    assert len(d["caption_pose"]) == 2 and d["text_embeddings"].shape == (2, 384)


def test_median_reference_centres_the_motion(known_video, tmp_path):
    video, _ = known_video
    out = tmp_path / "real.npz"
    proc = extract("--video", str(video), "--caption", "talks", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    got = np.load(out)["poses"]
    assert np.abs(np.median(got[:, :3], axis=0)).max() < 1.0 and got[:, 1].max() - got[:, 1].min() > 15


def test_the_extracted_corpus_trains_with_the_synthetic_one(known_video, tmp_path):
    video, _ = known_video
    real = tmp_path / "real.npz"
    assert extract("--video", str(video), "--caption", "looks around", "--out", str(real)).returncode == 0
    synthetic = tmp_path / "corpus.npz"
    cmd = [sys.executable, "scripts/build_corpus.py", "--clips", "4", "--styles", "1", "--out", str(synthetic)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    out, log = tmp_path / "w.safetensors", tmp_path / "log.jsonl"
    cmd = [sys.executable, "scripts/train_pose.py", "--corpus", str(synthetic), "--corpus", str(real)]
    cmd += ["--out", str(out), "--vae-steps", "20", "--steps", "20", "--batch", "8", "--log", str(log)]
    cmd += ["--config", json.dumps({"d": 32, "layers": 1, "heads": 2, "vae_hidden": 16})]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=600)
    first = json.loads(log.read_text().splitlines()[0])
    synthetic_motions = len(np.load(synthetic)["pose_offsets"]) - 1
    assert first["stage"] == "corpus" and first["motions"] == synthetic_motions + 1  # + the video's clip
    assert out.stat().st_size > 0


def test_a_video_without_a_face_says_so(tmp_path, speech_wav):
    video = tmp_path / "wall.mp4"
    cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=320x240:r=25", "-i", str(speech_wav)]
    cmd += ["-shortest", "-pix_fmt", "yuv420p", str(video)]
    subprocess.run(cmd, check=True, capture_output=True)
    proc = extract("--video", str(video), "--out", str(tmp_path / "x.npz"))
    assert proc.returncode != 0 and "no usable clips" in proc.stderr
    assert not (tmp_path / "x.npz").exists()
    proc = extract("--video", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "x.npz"))
    assert proc.returncode != 0 and "video not found" in proc.stderr
