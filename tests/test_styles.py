"""engine.styles: prompts → actions, moods and modifiers (left/right = viewer's screen)."""

from __future__ import annotations

import pytest

from engine.errors import BadInput
from engine.styles import parse_prompt


@pytest.mark.parametrize(
    ("prompt", "actions"),
    [
        ("nods slowly", ["nod"]),
        ("Nodding in agreement while she talks", ["nod"]),
        ("shakes his head", ["shake"]),
        ("tilts the head to the left", ["tilt_left"]),
        ("head tilted right", ["tilt_right"]),
        ("looks to the left", ["look_left"]),
        ("glancing right", ["look_right"]),
        ("looks up at the ceiling", ["look_up"]),
        ("looks down at the floor", ["look_down"]),
        ("leans in closer", ["lean_in"]),
        ("leans back", ["lean_back"]),
        ("pulls the head back a little", ["lean_back"]),
        ("just talks", ["none"]),
        ("nods slowly, then looks to the left", ["nod", "look_left"]),
        ("looks right; then shakes head, and then finally looks up", ["look_right", "shake", "look_up"]),
        ("nods, then slowly", ["nod"]),  # a short part without an action or a new mood modifies the one before
        ("nods excitedly, then calm", ["nod", "none"]),  # ... one that names a new mood is a part of its own
    ],
)
def test_actions(prompt, actions):
    assert [s.action for s in parse_prompt(prompt).segments] == actions


@pytest.mark.parametrize(
    ("prompt", "mood"),
    [
        ("calm and still", "calm"),
        ("very energetic and lively", "energetic"),
        ("sad, downcast", "sad"),
        ("confident speaker", "confident"),
        ("thinking about the answer", "thinking"),
        ("talks", "neutral"),
        ("speaks steadily, with composure", "calm"),
        ("lost in thought", "thinking"),
        ("with great enthusiasm", "energetic"),
        ("a low-energy delivery", "neutral"),  # energy, but not lively
    ],
)
def test_moods(prompt, mood):
    assert parse_prompt(prompt).mood == mood


def test_amplitude_and_speed_words():
    base = parse_prompt("nods")
    assert parse_prompt("nods slowly").speed < base.speed < parse_prompt("nods quickly").speed
    assert parse_prompt("slight nods").amplitude < base.amplitude < parse_prompt("big nods").amplitude


@pytest.mark.parametrize("prompt", ["", "   ", None, "x" * 5000])
def test_bad_prompts(prompt):
    with pytest.raises(BadInput, match="prompt"):
        parse_prompt(prompt)


@pytest.mark.parametrize(
    ("prompt", "moods"),
    [
        ("sit very still, then suddenly become excited and animated", ["calm", "energetic"]),
        ("nods energetically, then looks down sadly", ["energetic", "sad"]),
        # a piece without a mood word keeps the one before it (the first: neutral)
        ("nods excitedly, then looks left, then calm and still", ["energetic", "energetic", "calm"]),
        ("shakes the head, then gets very excited, then calms down completely", ["neutral", "energetic", "calm"]),
        # a part of one or two words that names a new mood is a part of its own, not a modifier of the one before
        ("calm, then excited", ["calm", "energetic"]),
        ("sit still, then animated", ["calm", "energetic"]),
        ("nods excitedly, then calm", ["energetic", "calm"]),
        # one mood named (or the same twice): the prompt's mood holds for every segment, as before
        ("calm nods, then looks to the left", ["calm", "calm"]),
        ("calmly nods, then calmly looks up", ["calm", "calm"]),
    ],
)
def test_moods_per_segment(prompt, moods):
    style = parse_prompt(prompt)
    assert style.segment_moods() == moods
    assert all(s.mood is None for s in style.segments) == (len(set(moods)) == 1)
