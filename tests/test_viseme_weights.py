"""Per-frame viseme weights and the blink channel of lips.json (what characters' mouth presets map from), on
real espeak-ng speech through the op and the CLI, and the format's checks of the block."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import BadInput
from engine.formats import read_lips
from engine.jobs import Job, run_op
from engine.viseme_weights import SHAPES, viseme_weights


def test_weights_are_the_shapes_time_shares():
    visemes = [{"start": 0.0, "end": 0.1, "shape": "X"}, {"start": 0.1, "end": 0.3, "shape": "D"},
               {"start": 0.3, "end": 0.34, "shape": "A"}, {"start": 0.34, "end": 1.0, "shape": "X"}]  # fmt: skip
    block = viseme_weights(visemes, 25, 25.0)
    w = np.array(block["frames"])
    assert block["shapes"] == SHAPES and w.shape == (25, len(SHAPES))
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-3)
    d, a, x = SHAPES.index("D"), SHAPES.index("A"), SHAPES.index("X")
    assert w[0, x] > 0.95 and w[4, d] > 0.9 and w[6, d] > 0.9  # frames 2.5-7.5 are D
    assert w[8, a] > 0.4  # frame 8 (0.32-0.36 s) is mostly the closure
    assert int(np.argmax(w[15])) == x
    # frames past the last viseme rest; strength scales the speaking shapes and the rest takes the remainder
    assert viseme_weights(visemes, 40, 25.0)["frames"][-1][x] == pytest.approx(1.0)
    half = np.array(viseme_weights(visemes, 25, 25.0, strength=0.5)["frames"])
    np.testing.assert_allclose(half[:, d], w[:, d] * 0.5, atol=2e-4)
    np.testing.assert_allclose(half.sum(axis=1), 1.0, atol=1e-3)


def test_the_op_carries_weights_that_follow_its_visemes(speech_wav, tmp_path):
    out = tmp_path / "lips.json"
    result = run_op("lips", {"audio": str(speech_wav), "fps": 24, "out": str(out)}, Job())
    frames, channels, fps, doc = read_lips(str(out))
    assert doc == result["lips"] and channels == ["mouth_open", "mouth_wide", "mouth_round", "lips_closed"]
    block = doc["viseme_weights"]
    w = np.array(block["frames"])
    assert block["shapes"] == SHAPES and w.shape == (len(frames), len(SHAPES))
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-3)
    # the dominant shape of a frame is the viseme at its centre almost everywhere (blending moves the edges)
    centre = [next((v["shape"] for v in doc["visemes"] if v["start"] <= (i + 0.5) / fps < v["end"]), "X")
              for i in range(len(frames))]  # fmt: skip
    dominant = [SHAPES[k] for k in np.argmax(w, axis=1)]
    assert np.mean([a == b for a, b in zip(centre, dominant)]) > 0.85
    assert len(set(dominant)) >= 5
    # the mouth opens where the open shapes weigh: weights and channels come from one track
    open_share = w[:, [SHAPES.index(s) for s in "CDEH"]].sum(axis=1)
    assert np.corrcoef(open_share, frames[:, 0])[0, 1] > 0.4
    # a time offset moves the weights with the channels
    shifted = run_op("lips", {"audio": str(speech_wav), "fps": 24, "time_offset_ms": 125}, Job())["lips"]
    ws = np.array(shifted["viseme_weights"]["frames"])
    assert np.abs(ws[3:] - w[:-3]).mean() < 0.02


def test_blinks_on_request(speech_wav, run_engine, tmp_path):
    plain = run_op("lips", {"audio": str(speech_wav), "fps": 25}, Job())["lips"]
    assert "blink" not in plain["channels"]
    out = tmp_path / "blinks.json"
    proc = run_engine("lips", "--audio", str(speech_wav), "--fps", "25", "--blinks", "--seed", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    frames, channels, _fps, doc = read_lips(str(out))
    assert channels[:4] == plain["channels"] and channels[4] == "blink"
    np.testing.assert_allclose(frames[:, :4], np.array(plain["frames"]), atol=1e-4)  # the mouth is the same
    blink = frames[:, 4]
    assert blink.max() == pytest.approx(1.0) and blink.min() == 0.0
    assert 1 <= int(np.sum((blink[1:] >= 0.5) & (blink[:-1] < 0.5))) <= 5  # a few blinks in seven seconds
    other = run_op("lips", {"audio": str(speech_wav), "fps": 25, "blinks": True, "seed": 4}, Job())["lips"]
    assert [r[4] for r in other["frames"]] != [round(float(b), 4) for b in blink]  # the seed picks the schedule


@pytest.mark.parametrize(
    "block,message",
    [
        ({"frames": []}, "name its shapes"),
        ({"shapes": ["A", "X"], "frames": [[0.5, 0.5]]}, "has 1 frames"),
        ({"shapes": ["A", "X"], "frames": "x"}, "lists of numbers"),
        ({"shapes": ["A", "X"], "frames": [[0.5, -0.5]] * 2}, "not negative"),
    ],
)
def test_a_bad_weights_block_is_refused(block, message):
    doc = {"format": "posetalk.lips/1", "fps": 25.0, "channels": ["mouth_open"], "frames": [[0.0], [0.1]]}
    read_lips(json.loads(json.dumps(doc)))  # without the block: fine
    with pytest.raises(BadInput, match=message):
        read_lips({**doc, "viseme_weights": block})
