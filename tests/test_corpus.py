"""scripts/build_corpus.py: the styles and captions the pose model is trained on (mood changes within a line)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_corpus  # noqa: E402


def test_mood_sequences_change_mood_and_say_so() -> None:
    rng = np.random.default_rng(7)
    drawn = [build_corpus.sample_style(rng, build_corpus.MOOD_SEQUENCE_SHARE) for _ in range(3000)]
    multi = [(style, label) for style, label in drawn if len(label["actions"]) > 1]
    changing = [(style, label) for style, label in multi if label.get("moods")]
    assert 0.25 < len(changing) / len(multi) < 0.45  # MOOD_SEQUENCE_SHARE of the multi-segment styles
    pieces_match = 0
    for style, label in changing:
        moods = label["moods"]
        assert style.segment_moods() == moods  # the teacher renders each segment's own mood
        assert all(a != b for a, b in zip(moods, moods[1:]))
        assert all(m != "neutral" for a, m in zip(label["actions"], moods) if a == "none")
        pieces_match += len(build_corpus.split_segments(build_corpus.caption(rng, label))) == len(moods)
    # the captions say the change in as many "then" pieces (build_clip drops those that do not)
    assert pieces_match > 0.8 * len(changing)
    # off (the shipped recipe's default), no style changes mood
    off = np.random.default_rng(3)
    assert not any("moods" in build_corpus.sample_style(off)[1] for _ in range(500))
