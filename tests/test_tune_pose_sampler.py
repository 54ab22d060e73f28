"""scripts/tune_pose_sampler.py: the validation prompts are balanced, seeded and kept apart from the evaluation's."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import tune_pose_sampler as tune  # noqa: E402
from eval_pose import PROMPT_SETS  # noqa: E402


def test_validation_prompts_are_balanced_and_apart_from_the_evaluation() -> None:
    prompts = tune.validation_prompts(48)
    share = -(-48 // len(tune.LABELS))
    counts = Counter(label for _text, expected in prompts for label in expected)
    assert set(counts) == tune.LABELS  # calm and energetic moods included, however rare the generator makes them
    assert all(count == share for count in counts.values()), counts
    texts = [text.lower() for text, _ in prompts]
    assert len(set(texts)) == len(texts)
    held = {p.lower() for prompts_of_set in PROMPT_SETS.values() for p, _ in prompts_of_set}
    assert not held & set(texts)
    assert tune.validation_prompts(48) == prompts  # one seed, one set
    assert tune.validation_prompts(48, seed=1) != prompts


def test_a_prompts_file_is_checked_against_the_classifier_and_the_evaluation(tmp_path: Path) -> None:
    """``--prompts``: the committed calm-phrasing set loads (one label per segment, each one the classifier can say); a
    label it cannot say or one of the evaluation's own prompts stops the run with the file named."""
    calm = tune.prompts_file(str(ROOT / "scripts" / "calm_phrasings.json"))
    assert len(calm) == 48 and sum(expected == ["calm"] for _, expected in calm) == 24
    assert all(set(expected) <= tune.LABELS for _, expected in calm)
    bad = tmp_path / "bad.json"
    for items, message in (
        ([["sways a little", ["sway"]]], "labels the classifier cannot say: sway"),
        ([[next(iter(PROMPT_SETS.values()))[0][0].upper(), ["nod"]]], "a prompt of the evaluation's sets"),
    ):
        bad.write_text(json.dumps(items))
        with pytest.raises(SystemExit, match=re.escape(message)) as stop:
            tune.prompts_file(str(bad))
        assert str(bad) in str(stop.value)
