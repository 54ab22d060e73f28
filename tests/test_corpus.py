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


def test_several_takes_per_style_share_the_captions() -> None:
    """--takes 2: each style comes as two teacher motions (two seeds) of the same label and captions, so the pose
    model sees how far two takes of one line differ; one take is the shipped recipe's random stream."""
    one = build_corpus.build_clip(5, 0, "espeak", 2, 3, None)
    two = build_corpus.build_clip(5, 0, "espeak", 2, 3, None, takes=2)
    assert len(one["poses"]) == 2 and len(two["poses"]) == 4
    np.testing.assert_array_equal(one["features"], two["features"])  # the same speech
    np.testing.assert_array_equal(one["poses"][0], two["poses"][0])  # the first take is drawn as before
    for a, b in ((0, 1), (2, 3)):
        assert two["labels"][a] == two["labels"][b] and two["captions"][a] == two["captions"][b]
        diff = np.abs(two["poses"][a][:, :3] - two["poses"][b][:, :3])
        assert diff.mean() > 0.3  # another seed: another take of the same style
    assert two["labels"][0] != two["labels"][2] or two["captions"][0] != two["captions"][2]


def test_the_keyword_model_reads_every_mood_phrase_of_the_captions():
    """The teacher's captions and the keyword model share one vocabulary: each mood phrase the corpus captions a
    motion with ("steadily", "with gusto", "deep in thought", ...) is read by engine.styles as that mood."""
    from engine.styles import parse_prompt

    phrases = [
        (mood, p)
        for table in (build_corpus.MOOD_WORDS, build_corpus.MOOD_ONLY)
        for mood, ps in table.items()
        for p in ps
        if p
    ]
    phrases += [("calm", p) for p in build_corpus.CALM_DESCRIPTIONS]
    misread = [(p, mood, read) for mood, p in phrases if (read := parse_prompt(p).mood) != mood]
    assert len(phrases) > 150
    assert misread == []
