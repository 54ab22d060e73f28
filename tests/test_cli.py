"""The command line as a user runs it: pose.json, help, and one clear line for bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf

from engine.backends import DEFAULT_BACKEND
from engine.errors import BadInput
from engine.formats import POSE_CHANNELS, read_pose
from engine.jobs import OPS, Job, run_op
from engine.params import OPS as PARAMS
from engine.params import check


def test_pose_writes_pose_json(run_engine, speech_wav, tmp_path):
    out = tmp_path / "pose.json"
    proc = run_engine(
        "pose",
        "--audio",
        str(speech_wav),
        "--prompt",
        "nods slowly, then looks to the left",
        "--seed",
        "7",
        "--fps",
        "29.97",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["format"] == "posetalk.pose/1"
    assert doc["channels"] == POSE_CHANNELS
    assert doc["fps"] == pytest.approx(29.97)
    assert len(doc["frames"]) == math.ceil(sf.info(str(speech_wav)).duration * 29.97 - 1e-9)
    assert doc["meta"]["prompt"] == "nods slowly, then looks to the left" and doc["meta"]["seed"] == 7
    assert doc["meta"]["backend"] == DEFAULT_BACKEND  # "auto" is recorded as the model it stood for
    frames = np.array(doc["frames"])
    assert np.all(np.abs(frames[:, :3]) < 30) and np.all(np.abs(frames[:, 5] - 1) < 0.3)
    assert frames[-len(frames) // 4 :, 1].mean() < -5  # looks to the viewer's left at the end


def test_same_seed_same_file(run_engine, speech_wav, tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"p{i}.json"
        assert (
            run_engine("pose", "--audio", str(speech_wav), "--prompt", "shakes head", "--out", str(out)).returncode == 0
        )
        outs.append(out.read_text())
    assert outs[0] == outs[1]


@pytest.mark.parametrize("command", ["pose", "lips", "render", "animate", "serve"])
def test_help(run_engine, command):
    proc = run_engine(command, "--help")
    assert proc.returncode == 0 and "usage:" in proc.stdout


def test_pins_are_kept_exactly(run_engine, speech_wav, tmp_path):
    base = tmp_path / "base.json"
    assert run_engine("pose", "--audio", str(speech_wav), "--prompt", "talking", "--out", str(base)).returncode == 0
    frames, fps, _ = read_pose(str(base))
    pins = [None] * len(frames)
    pins[40] = [10.0, -12.0, 3.0, 0.05, -0.02, 1.05]
    pins[90] = [None, 8.0, None, None, None, None]
    pin_file = tmp_path / "pins.json"
    pin_file.write_text(
        json.dumps({"format": "posetalk.pose/1", "fps": fps, "channels": POSE_CHANNELS, "frames": pins})
    )
    out = tmp_path / "pinned.json"
    proc = run_engine(
        "pose", "--audio", str(speech_wav), "--prompt", "talking", "--pins", str(pin_file), "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    got, _, _ = read_pose(str(out))
    np.testing.assert_allclose(got[40], pins[40], atol=1e-3)
    assert got[90, 1] == pytest.approx(8.0, abs=1e-3)
    # it flows into the pins: no jump next to them
    step = np.abs(np.diff(got[:, :3], axis=0))
    assert step[35:45].max() < 3.0 and step[85:95].max() < 3.0


def test_procedural_pins_leave_the_motion_far_from_them_alone(run_engine, speech_wav, tmp_path):
    """The keyword backend bends its motion into the pins locally; (the diffusion backend draws a new take that
    passes through them, see tests/test_pose_model.py)."""
    common = ("pose", "--audio", str(speech_wav), "--prompt", "talking", "--backend", "procedural")
    base = tmp_path / "base.json"
    assert run_engine(*common, "--out", str(base)).returncode == 0
    frames, fps, _ = read_pose(str(base))
    pins = [None] * len(frames)
    pins[40] = [10.0, -12.0, 3.0, 0.05, -0.02, 1.05]
    pin_file = tmp_path / "pins.json"
    pin_file.write_text(
        json.dumps({"format": "posetalk.pose/1", "fps": fps, "channels": POSE_CHANNELS, "frames": pins})
    )
    out = tmp_path / "pinned.json"
    assert run_engine(*common, "--pins", str(pin_file), "--out", str(out)).returncode == 0
    got, _, _ = read_pose(str(out))
    np.testing.assert_allclose(got[40], pins[40], atol=1e-3)
    np.testing.assert_allclose(got[-5:, :3], frames[-5:, :3], atol=0.5)


@pytest.mark.parametrize("command", sorted(OPS))
def test_every_parameter_of_the_table_is_a_flag(run_engine, command):
    """The CLI's flags come from engine.params: each parameter (but internal ones) with its default."""
    text = " ".join(run_engine(command, "--help").stdout.split())
    for param in PARAMS[command]:
        flag = param.flag if param.kind != "bool" or not param.default else "--no-" + param.flag[2:]
        assert (flag in text) == param.cli, (command, param.name)
        if param.cli and param.default is not None and param.kind != "bool":
            assert f"(default {param.default})" in text, (command, param.name)


def test_unknown_and_out_of_range_parameters_are_one_clear_error():
    with pytest.raises(BadInput, match="unknown parameter for pose: bogus"):
        run_op("pose", {"audio": "a.wav", "prompt": "nods", "bogus": 1}, Job())
    with pytest.raises(BadInput, match="guidance must be between 0 and 20, got 25"):
        check("pose", {"audio": "a.wav", "prompt": "nods", "guidance": 25})
    with pytest.raises(BadInput, match="seed must be a whole number"):
        check("pose", {"audio": "a.wav", "prompt": "nods", "seed": 1.5})
    values = check("lips", {"audio": "a.wav"})
    assert values["strength"] == 1.0 and values["out"] is None and values["fps"] == 25.0


def test_argparse_errors_are_one_line(run_engine):
    proc = run_engine("pose", "--prompt", "nods")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "--audio" in proc.stderr
