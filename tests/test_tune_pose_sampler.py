"""scripts/tune_pose_sampler.py: the validation prompts are balanced, seeded and kept apart from the evaluation's."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

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
