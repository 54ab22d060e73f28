"""Prompt → motion style: keyword parsing of the text prompt.

A prompt is split into time segments on sequencing words ("then", "after that",
...). Each segment gets one head *action* (nod, shake, tilt, look, lean) and the
whole prompt a *mood* plus amplitude and speed words; where the segments name different moods ("sit still,
then get excited") each segment keeps its own. Left/right are the viewer's
screen directions (docs/architecture.md, "Formats"). The result drives the procedural teacher and labels
the training corpus of the learned pose model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .params import PROMPT

ACTIONS = (
    "none",
    "nod",
    "shake",
    "tilt_left",
    "tilt_right",
    "look_left",
    "look_right",
    "look_up",
    "look_down",
    "lean_in",
    "lean_back",
)
MOODS = ("neutral", "calm", "energetic", "sad", "confident", "thinking")

_SPLIT = re.compile(
    r"\b(?:and then|then|after that|afterwards|followed by|before finally|finally|next|later)\b|;|\.(?=\s|$)"
)

_MOODS = {
    "calm": r"calm\w*|still|steady|steadi\w*|relaxed|gentle|gently|seren\w*|quiet\w*|subtle|peaceful\w*|compos\w*"
    r"|motionless|unmoving|restful|tranquil\w*|placid\w*|sedate\w*|evenly|even-tempered|cool|coolly|restrain\w*"
    r"|measured|low-key|understated|poised|unruffled|collected|unflappable|subdued|stable|settled|level|mellow"
    r"|reserved|without fuss|stays put|(?:barely|hardly) mov\w*|mov\w* very little|hardly any (?:head )?movement"
    r"|(?:minimal|little|almost no|without much|no big) (?:head )?(?:motion|movements?)|movement to a minimum",
    "energetic": r"(?<!low )(?<!low-)(?<!no )energ\w*|lively|animat\w*|excited\w*|vigorous\w*|enthusias\w*|dynamic"
    r"|bounc\w*|passionate\w*|emphatic\w*|expressive\w*|spirited\w*|exuberan\w*|full of life|gusto|zest\w*"
    r"|mov\w* around a lot",
    "sad": r"sad\w*|downcast|gloom\w*|melanchol\w*|dejected\w*|sorrow\w*|unhapp\w*|depressed|glum|mournful\w*"
    r"|down-hearted",
    "confident": r"confiden\w*|assertive\w*|proud\w*|bold\w*|self-assured\w*|assured|authorit\w*|determined",
    "thinking": r"think\w*|thought\w*|ponder\w*|contemplat\w*|wonder\w*|consider\w*|pensive\w*|reflect\w*|musing"
    r"|hesitant\w*|unsure|puzzled",
}
_SLOW = r"slow\w*|leisurely|unhurried|lazily|lazy|languid\w*|gradual\w*"
_FAST = r"fast|faster|quick\w*|rapid\w*|brisk\w*|swift\w*|hurried\w*|snappy"
_SMALL = r"slight\w*|small|subtl\w*|little|tiny|a bit|barely|minimal\w*|faint\w*|soft\w*|mild\w*|light\w*"
_LARGE = r"big|bigger|large|larger|strong\w*|vigorous\w*|wide\w*|broad\w*|dramatic\w*|exaggerat\w*|firm\w*|deep\w*|hard"

_LEFT = r"left\w*"
_RIGHT = r"right\w*"
_LOOK = r"look\w*|glanc\w*|gaz\w*|turn\w*|peer\w*|stare\w*|star\w*|face[sd]?|facing|eyes|rotat\w*|head|swivel\w*"
_UP = r"up|upward\w*|skyward\w*|ceiling|above|chin up|rais\w*|lift\w*"
_DOWN = r"down|downward\w*|floor|below|lower\w*|drop\w*|bow\w*|ground"

_ACTION_PATTERNS: list[tuple[str, str]] = [
    ("nod", r"nod\w*|agree\w*|bob\w*|nodd\w*|yes|affirm\w*"),
    ("shake", r"shak\w*|disagree\w*|\bno\b|deny\w*|denial|refus\w*|side to side|side-to-side|wag\w*"),
    ("tilt", r"tilt\w*|cock\w*|incline\w*|lean\w* (?:the |their |his |her )?head|slant\w*|canted"),
    (
        "lean_in",
        r"lean\w* (?:in|forward|closer|toward\w*)|mov\w* closer|approach\w*|closer to|come[s]? closer|draw\w* near",
    ),
    (
        "lean_back",
        r"lean\w* back\w*|pull\w* (?:\w+ ){0,2}(?:back|away)|back away|mov\w* (?:\w+ ){0,2}(?:back|away)|withdraw\w*"
        r"|recoil\w*",
    ),
]


@dataclass
class Segment:
    """One stretch of the prompt's time line with a single head action."""

    action: str = "none"
    amplitude: float = 1.0
    speed: float = 1.0
    mood: str | None = None  # this segment's own mood; None: the prompt's (Style.mood)


@dataclass
class Style:
    """A parsed prompt: ordered action segments, a mood, global amplitude and speed."""

    segments: list[Segment] = field(default_factory=lambda: [Segment()])
    mood: str = "neutral"
    amplitude: float = 1.0
    speed: float = 1.0

    def segment_moods(self) -> list[str]:
        """Each segment's mood: its own where it has one, else the prompt's."""
        return [s.mood or self.mood for s in self.segments]

    def describe(self) -> str:
        acts = " then ".join(s.action for s in self.segments)
        moods = self.segment_moods()
        mood = " then ".join(moods) if len(set(moods)) > 1 else self.mood
        return f"{acts} / {mood} / amp {self.amplitude:.2f} / speed {self.speed:.2f}"


def check_prompt(prompt: str | None) -> str:
    """The prompt with runs of white space made one; BadInput if it is empty or too long."""
    return " ".join(PROMPT.check(prompt).split())


def _has(pattern: str, text: str) -> bool:
    return re.search(rf"\b(?:{pattern})\b", text) is not None


def _scale_words(text: str) -> tuple[float, float]:
    amp = 1.0
    speed = 1.0
    if _has(_SMALL, text):
        amp *= 0.55
    if _has(_LARGE, text):
        amp *= 1.6
    if _has(_SLOW, text):
        speed *= 0.6
    if _has(_FAST, text):
        speed *= 1.6
    if re.search(r"\bvery\b|\breally\b|\bextremely\b", text):
        amp = amp * 1.25 if amp >= 1.0 else amp * 0.75
    return amp, speed


def _segment_action(text: str) -> str:
    left, right = _has(_LEFT, text), _has(_RIGHT, text)
    for name, pattern in _ACTION_PATTERNS:
        if _has(pattern, text):
            if name == "tilt":
                if right and not left:
                    return "tilt_right"
                return "tilt_left" if left else "tilt_right"
            return name
    looking = _has(_LOOK, text) or _has(r"to the|towards?|over|aside|away", text)
    if left and not right and looking:
        return "look_left"
    if right and not left and looking:
        return "look_right"
    if left != right:
        return "look_left" if left else "look_right"
    if _has(_UP, text) and (looking or _has(r"chin|head|upward\w*|skyward\w*|ceiling", text)):
        return "look_up"
    if _has(_DOWN, text) and (looking or _has(r"chin|head|downward\w*|floor|ground|bow\w*|lower\w*", text)):
        return "look_down"
    return "none"


def _mood(text: str) -> str | None:
    """The first mood whose words the text has (in the order of _MOODS), or None."""
    for name, pattern in _MOODS.items():
        if _has(pattern, text):
            return name
    return None


def modifies_previous(piece: str, previous: str) -> bool:
    """Whether prompt part ``piece`` (lower case) only modifies the part ``previous`` before it ("then slowly"):
    a word or two with no action and no mood other than the previous part's. "then excited" after a calm part
    is a part of its own."""
    return len(piece.split()) <= 2 and _segment_action(piece) == "none" and _mood(piece) in (None, _mood(previous))


def parse_prompt(prompt: str) -> Style:
    """Parse a free-text prompt into a Style (keyword based, deterministic)."""
    text = check_prompt(prompt).lower()
    text = text.replace("’", "'")
    mood = _mood(text) or "neutral"
    amp, speed = _scale_words(text)
    pieces = [p.strip(" ,") for p in _SPLIT.split(text)]
    pieces = [p for p in pieces if p]
    segments = []
    previous = ""
    for piece in pieces or [text]:
        if segments and modifies_previous(piece, previous):
            continue  # its words belong to the part before
        seg_amp, seg_speed = _scale_words(piece)
        segments.append(
            Segment(
                action=_segment_action(piece),
                amplitude=seg_amp / amp if amp else 1.0,
                speed=seg_speed / speed,
                mood=_mood(piece),
            )
        )
        previous = piece
    if not segments:
        segments = [Segment()]
    # a segment with no action of its own in a multi-part prompt keeps talking motion only
    _settle_moods(segments)
    return Style(segments=segments, mood=mood, amplitude=amp, speed=speed)


def _settle_moods(segments: list[Segment]) -> None:
    """Segments keep moods of their own only where the prompt names two different ones ("still, then excited");
    a segment without a mood word then takes the one before it (the first: neutral). Otherwise the prompt's one
    mood holds for all (Segment.mood None)."""
    named = {s.mood for s in segments if s.mood}
    if len(named) < 2:
        for s in segments:
            s.mood = None
        return
    current = "neutral"
    for s in segments:
        current = s.mood or current
        s.mood = current


def segment_weights(positions: np.ndarray, total: float, count: int, ramp: float) -> np.ndarray:
    """(len(positions), count) soft membership of time positions in ``count`` equal segments of ``[0, total)``.

    Neighbouring segments cross over with a tanh ramp ``ramp`` wide (in the positions' unit); rows sum to 1.
    """
    t = np.asarray(positions, dtype=np.float64)
    if count <= 1:
        return np.ones((len(t), 1))
    bounds = np.linspace(0.0, total, count + 1)
    w = np.zeros((len(t), count))
    for k in range(count):
        rise = 1.0 if k == 0 else 0.5 + 0.5 * np.tanh((t - bounds[k]) / (0.5 * ramp))
        fall = 1.0 if k == count - 1 else 0.5 - 0.5 * np.tanh((t - bounds[k + 1]) / (0.5 * ramp))
        w[:, k] = rise * fall
    return w / np.maximum(w.sum(axis=1, keepdims=True), 1e-9)
