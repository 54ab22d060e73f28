"""Turn calibration (engine.render.turns) on the real portraits, the real warp and the real face mesh."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.render import Renderer, turns
from engine.render.turns import IDENTITY_TURNS, TurnMap, read_pose

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "examples" / "portrait.png"
PHOTO = Path(np.__file__).parents[1] / "matplotlib" / "mpl-data" / "sample_data" / "grace_hopper.jpg"
OUT_AND_BACK = np.array([6.0, 10.0, 14.0, 18.0, 22.0, 18.0, 14.0, 10.0, 6.0, 0.0])  # not the sweep's angles
ASKED = np.concatenate([OUT_AND_BACK, -OUT_AND_BACK])


def read_turns(r: Renderer, axis: int) -> np.ndarray:
    """The angle about ``axis`` (0 pitch, 1 yaw) that capture's reading sees in a turn rendered out to 22 degrees
    and back on either side (as in a video: each frame close to the one before)."""
    poses = np.zeros((len(ASKED) + 1, 6))
    poses[:, 5] = 1.0
    poses[1:, axis] = ASKED
    n = len(poses)
    frames = r.render_batch(poses, np.zeros((n, 4)), np.zeros(n))
    return read_pose(list(frames), None)[1:, axis]


@pytest.mark.parametrize("image", [PORTRAIT, PHOTO], ids=["portrait", "photo"])
def test_rendered_turns_read_as_asked(image: Path) -> None:
    r = Renderer(str(image), size=384, device="cpu")
    measured = r.coarse.turns
    assert measured != IDENTITY_TURNS
    yaw, pitch = read_turns(r, 1), read_turns(r, 0)
    for read in (yaw, pitch):
        assert np.abs(read - ASKED).mean() < 1.0 and np.abs(read - ASKED).max() < 3.0, read  # a single frame: noisier
    r.coarse.turns = IDENTITY_TURNS  # the bare warp: its turns read short
    bare = read_turns(r, 1)
    assert np.abs(bare - ASKED).mean() > np.abs(yaw - ASKED).mean() + 1.0, (bare, yaw)
    r.coarse.turns = measured


def test_warp_pose_draws_what_reads_as_asked() -> None:
    m = TurnMap(pitch=(0.8, 0.004), yaw=(0.6, -0.003), nod=(0.05, -0.01), tilt=(0.02, 0.001),
                shift=(0.002, 0.0001, -0.003, 0.0002))  # fmt: skip
    asked = torch.tensor([[8.0, -10.0, 3.0, 0.1, -0.1, 1.1], [-15.0, 24.0, -12.0, 0.0, 0.0, 0.9], [0, 0, 0, 0, 0, 1.0]])
    drawn = m.warp_pose(asked)
    p, y, r = drawn[:, 0], drawn[:, 1], drawn[:, 2]
    read = [  # the map's model of what the face mesh reads of the drawn poses
        0.8 * p + 0.004 * p * p + 0.05 * y - 0.01 * y * y,
        0.6 * y - 0.003 * y * y,
        r + 0.02 * y + 0.001 * y * y,
        drawn[:, 3] + 0.002 * y + 0.0001 * y * y,
        drawn[:, 4] - 0.003 * p + 0.0002 * p * p,
    ]
    for axis, channel in enumerate(read):
        assert torch.allclose(channel, asked[:, axis], atol=1e-4), (axis, channel)
    assert abs(y[1].item()) > 24.0 / 0.6  # a turn that reads short is drawn wider
    assert torch.equal(drawn[:, 5], asked[:, 5]) and torch.equal(drawn[2], asked[2])  # scale as asked; the front
    assert asked[0, 1].item() == -10.0  # the asked poses are left alone
    assert torch.equal(IDENTITY_TURNS.warp_pose(asked), asked)


def test_turn_map_cached_on_disk(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    turns._CACHE.clear()  # measured by another test in this process: this one starts from nothing
    first = Renderer(str(PORTRAIT), size=256, device="cpu", cache_dir=str(cache))
    (file,) = cache.glob("turns-*.json")
    assert TurnMap.from_json(file.read_text()) == first.coarse.turns
    turns._CACHE.clear()  # as a new engine process: read from the disk, not measured again
    planted = TurnMap(pitch=(0.9, 0.001), yaw=(0.7, 0.002), nod=(0.01, -0.02), tilt=(0.03, 0.0))
    file.write_text(planted.to_json())
    assert Renderer(str(PORTRAIT), size=256, device="cpu", cache_dir=str(cache)).coarse.turns == planted
    turns._CACHE.clear()
    file.write_text(json.dumps({"version": 0}))  # an older or damaged entry is measured again and replaced
    again = Renderer(str(PORTRAIT), size=256, device="cpu", cache_dir=str(cache)).coarse.turns
    assert again == first.coarse.turns
    assert TurnMap.from_json(file.read_text()) == again
