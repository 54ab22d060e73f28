"""Build the synthetic motion corpus for the Pose Latent Diffusion model (one command, one seed).

Speech of the training voice families (scripts/voices.py: espeak-ng with many voices, rates and
pitches, and the Piper neural voice with varied length and prosody noise; the families take turns
clip by clip) in generated sentences with pauses × styles × the procedural teacher
(engine.procedural). Each motion gets several paraphrased captions (synonyms, sentence frames,
"then" compositions (a share of them changing mood from one piece to the next), intensity and speed
words, calm said in many words, looks and tilts from
combinable verbs and places; left/right are the viewer's screen directions). Stored: audio
features (.matrix()), poses and caption embeddings (whole caption + one per "then" segment) in
one .npz; no audio. flite is held out and festival is reserved for evaluation.

    .venv/bin/python scripts/build_corpus.py --seed 0 --clips 2000 --out data/corpus.npz
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from multiprocessing import Pool

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

sys.path.insert(0, os.path.join(ROOT, "scripts"))

from voices import TRAIN_FAMILIES, TRAINABLE, PiperSession, Voice, sample_voice, speak  # noqa: E402

from engine.audio import SAMPLE_RATE, compute_features  # noqa: E402
from engine.procedural import generate_motion  # noqa: E402
from engine.styles import Segment, Style  # noqa: E402

FPS = 25.0
# ---------------------------------------------------------------- sentences
SUBJECTS = [
    "the committee",
    "my brother",
    "our neighbour",
    "the old captain",
    "a young doctor",
    "the team",
    "everyone",
    "the teacher",
    "this company",
    "the little girl",
    "my grandmother",
    "the new manager",
    "they",
    "we",
    "she",
    "he",
    "the driver",
    "a stranger",
    "the scientists",
    "the council",
    "our friends",
    "the artist",
]
VERBS = [
    "decided to build",
    "forgot about",
    "talked about",
    "painted",
    "discovered",
    "explained",
    "remembered",
    "refused to sell",
    "carefully opened",
    "wrote a letter about",
    "finally found",
    "never mentioned",
    "celebrated",
    "studied",
    "repaired",
    "argued about",
    "carried",
    "borrowed",
    "photographed",
    "imagined",
]
OBJECTS = [
    "the red house by the river",
    "a strange old map",
    "the budget for next year",
    "three green bottles",
    "the bridge over the valley",
    "a small wooden boat",
    "the results of the experiment",
    "her favourite song",
    "the broken window",
    "an enormous cake",
    "the plan for the summer",
    "the missing keys",
    "a quiet garden",
    "the history of the city",
    "two hundred letters",
    "the train to London",
    "a very difficult question",
    "the last chapter",
    "our little dog",
    "the winter festival",
]
TAILS = [
    "yesterday",
    "last night",
    "in the morning",
    "after the meeting",
    "before lunch",
    "without telling anyone",
    "for the first time",
    "again and again",
    "in the rain",
    "at the end of the day",
    "with great care",
    "",
]
OPENERS = [
    "Well,",
    "You know,",
    "Honestly,",
    "Listen.",
    "So,",
    "Actually,",
    "Believe me,",
    "Look,",
    "Of course,",
    "I think",
    "To be fair,",
    "",
    "",
    "",
    "",
]
QUESTIONS = [
    "Can you believe it?",
    "Why would anyone do that?",
    "What do you think?",
    "Is that really true?",
    "Where did it go?",
    "Who told you that?",
    "Are you sure about this?",
]
EXCLAIMS = ["That is amazing!", "Absolutely not!", "Yes, exactly!", "What a day!", "No way!", "Wonderful!"]
NUMBERS = [
    "It cost forty two dollars.",
    "We waited for nineteen minutes.",
    "There were seven hundred people.",
    "The score was three to one.",
    "It happened in nineteen eighty four.",
]


def sentence(rng: np.random.Generator) -> str:
    kind = rng.random()
    if kind < 0.1:
        return str(rng.choice(QUESTIONS))
    if kind < 0.17:
        return str(rng.choice(EXCLAIMS))
    if kind < 0.24:
        return str(rng.choice(NUMBERS))
    words = [str(rng.choice(OPENERS)), str(rng.choice(SUBJECTS)), str(rng.choice(VERBS)), str(rng.choice(OBJECTS))]
    if rng.random() < 0.6:
        words.append(str(rng.choice(TAILS)))
    if rng.random() < 0.35:
        words.append(", and then " + str(rng.choice(SUBJECTS)) + " " + str(rng.choice(VERBS)))
        words.append(str(rng.choice(OBJECTS)))
    text = " ".join(w for w in words if w).replace(" ,", ",")
    text = text[0].upper() + text[1:]
    return text + str(rng.choice([".", ".", ".", "!", "?"]))


def make_audio(rng: np.random.Generator, seconds: float, voice: Voice, piper: PiperSession | None) -> np.ndarray:
    """Speech of one voice with pauses, about ``seconds`` long (sentences + silences, light noise)."""
    parts = [np.zeros(int(rng.uniform(0.0, 0.8) * SAMPLE_RATE), np.float32)]
    total = len(parts[0])
    while total < seconds * SAMPLE_RATE:
        text = sentence(rng)
        try:
            clip = speak(text, voice, piper)
        except subprocess.CalledProcessError:  # an espeak-ng voice variant this installation lacks
            voice = Voice("espeak", "en-us", voice.rate, voice.pitch, voice.amp)
            continue
        parts.append(clip)
        gap = rng.choice([0.1, 0.3, 0.6, 1.0, 1.8], p=[0.25, 0.3, 0.2, 0.15, 0.1]) * rng.uniform(0.7, 1.3)
        parts.append(np.zeros(int(gap * SAMPLE_RATE), np.float32))
        total += len(clip) + len(parts[-1])
    audio = np.concatenate(parts)[: int(seconds * SAMPLE_RATE)]
    audio += rng.normal(0, 10 ** rng.uniform(-4.5, -3.0), len(audio)).astype(np.float32)  # room noise
    return audio.astype(np.float32)


# ---------------------------------------------------------------- styles and captions
# Left and right are always the viewer's screen directions. Looks and tilts to the left are written once,
# from verbs and places that combine ("glances" + "toward screen left"), and mirrored for the right.
LOOK_VERBS = {  # form → verbs of a turn of the head or gaze
    "third_person": [
        "looks",
        "turns",
        "glances",
        "gazes",
        "faces",
        "turns the head",
        "turns the face",
        "swivels the head",
        "rotates the head",
        "points the face",
        "angles the face",
        "looks away",
        "glances over",
        "turns to look",
        "peers",
        "peeks",
        "looks over",
        "turns around",
    ],
    "imperative": [
        "look",
        "turn",
        "glance",
        "gaze",
        "face",
        "turn your head",
        "turn your face",
        "swivel your head",
        "rotate your head",
        "point your face",
        "angle your face",
        "look away",
        "glance over",
        "turn to look",
        "peer",
        "peek",
        "look over",
        "turn around",
    ],
    "noun": [
        "a glance",
        "a look",
        "a turn of the head",
        "the face turned",
        "the head turned",
        "a sideways look",
        "a head turn",
        "the gaze",
        "a quick look",
        "the face angled",
        "eyes and head",
        "a sideways glance",
        "the head swivelled",
        "a turn",
    ],
}
LOOK_PLACES = [
    "left",
    "to the left",
    "toward the left",
    "towards the left",
    "to screen left",
    "toward screen left",
    "to camera left",
    "off to the left",
    "over to the left",
    "to the left side",
    "toward frame left",
    "toward the left side of the frame",
    "to the left side of the screen",
    "toward the left edge",
    "to the viewer's left",
    "leftward",
    "toward the left of the picture",
    "to the left-hand side",
    "to the audience's left",
    "away to the left",
    "toward the left of the image",
    "toward the left edge of the screen",
]
GAZE_VERBS = {  # verbs that also take a thing to look at
    "third_person": ["looks", "glances", "gazes", "peers", "peeks", "stares"],
    "imperative": ["look", "glance", "gaze", "peer", "peek", "stare"],
    "noun": ["a glance", "a look", "a long look", "a quick glance", "a stare"],
}
GAZE_THINGS = [
    "at something on the left",
    "at someone on the left",
    "at a point on the left of the screen",
    "at the left side of the room",
    "at something off screen to the left",
    "at the left edge of the frame",
]
TILT_VERBS = {
    "third_person": [
        "tilts the head",
        "tilts",
        "tips the head",
        "cocks the head",
        "leans the head",
        "inclines the head",
        "slants the head",
        "tilts the head sideways",
        "tips the head sideways",
        "lets the head fall sideways",
        "bends the head sideways",
        "rolls the head",
        "cants the head",
    ],
    "imperative": [
        "tilt your head",
        "tilt",
        "tip your head",
        "cock your head",
        "lean your head",
        "incline your head",
        "slant your head",
        "tilt your head sideways",
        "tip your head sideways",
        "let your head fall sideways",
        "bend your head sideways",
        "roll your head",
        "cant your head",
    ],
    "noun": [
        "a head tilt",
        "a tilt",
        "the head tilted",
        "a sideways tilt",
        "the head tipped sideways",
        "a quizzical tilt",
        "a cocked head",
        "a curious head tilt",
        "a slanted head",
        "the head canted",
        "the head leaning sideways",
        "a sideways head tilt",
    ],
}
TILT_PLACES = [
    "left",
    "to the left",
    "toward the left",
    "to screen left",
    "toward screen left",
    "to camera left",
    "over to the left",
    "toward the left side of the frame",
    "to the viewer's left",
    "leftward",
    "to the left side",
    "toward the left of the screen",
    "toward the left edge of the picture",
    "sideways to the left",
    "to the left-hand side",
]


def _combine(verbs: list[str], places: list[str]) -> list[str]:
    return [f"{v} {p}" for v in verbs for p in places]


def _side_phrases(form: str) -> dict[str, list[str]]:
    """Look and tilt phrases of one caption form, left ones and their mirrors."""
    look = _combine(LOOK_VERBS[form], LOOK_PLACES) + _combine(GAZE_VERBS[form], GAZE_THINGS)
    tilt = _combine(TILT_VERBS[form], TILT_PLACES)
    mirror = lambda ps: [p.replace("left", "right") for p in ps]  # noqa: E731
    return {"look_left": look, "look_right": mirror(look), "tilt_left": tilt, "tilt_right": mirror(tilt)}


ACTION_PHRASES = {
    "none": [
        "talks naturally",
        "speaks normally",
        "just talks",
        "talks with natural head motion",
        "speaks",
        "keeps talking with ordinary movement",
        "speaks with a natural head",
        "talking",
        "chats",
        "says a few words",
        "delivers the lines",
        "speaks to the camera",
    ],
    "nod": [
        "nods",
        "keeps nodding",
        "nods along",
        "nods in agreement",
        "bobs the head up and down",
        "nods yes",
        "moves the head up and down",
        "agrees by nodding",
        "gives nods",
        "nodding",
        "dips the head in agreement",
        "nods repeatedly",
        "keeps giving small nods",
        "nods the head yes",
    ],
    "shake": [
        "shakes the head",
        "shakes the head no",
        "keeps shaking the head",
        "turns the head side to side",
        "shakes no",
        "disagrees with a head shake",
        "moves the head from side to side",
        "shaking the head",
        "shakes the head in disagreement",
        "wags the head no",
        "gives repeated head shakes",
    ],
    "look_up": [
        "looks up",
        "looks upward",
        "raises the chin",
        "lifts the head up",
        "gazes up at the ceiling",
        "turns the face upward",
        "looking up",
        "tips the head up",
        "glances upward",
        "lifts the gaze",
        "raises the eyes and head",
    ],
    "look_down": [
        "looks down",
        "looks downward",
        "lowers the head",
        "drops the chin",
        "gazes down at the floor",
        "bows the head",
        "looking down",
        "casts the eyes down",
        "looks at the ground",
        "glances downward",
        "lowers the gaze",
    ],
    "lean_in": [
        "leans in",
        "leans forward",
        "moves closer",
        "leans toward the camera",
        "comes closer",
        "leaning in",
        "draws near to the camera",
        "leans closer",
        "moves toward the camera",
        "comes forward",
    ],
    "lean_back": [
        "leans back",
        "pulls back",
        "moves away from the camera",
        "leans backward",
        "draws back",
        "leaning back",
        "backs away",
        "leans away",
        "moves back from the camera",
        "pulls away from the camera",
    ],
    **_side_phrases("third_person"),
}
# The same actions as commands ("nod your head") and as noun phrases ("a head tilt to the left"):
# prompts are typed in every grammatical form.
IMPERATIVE_PHRASES = {
    "none": [
        "just talk",
        "talk naturally",
        "speak normally",
        "keep talking",
        "speak as usual",
        "chat",
        "say a few words",
        "deliver the lines",
        "speak to the camera",
    ],
    "nod": [
        "nod",
        "keep nodding",
        "nod along",
        "nod in agreement",
        "nod your head",
        "bob your head up and down",
        "nod yes",
        "give little nods",
        "agree by nodding",
        "move your head up and down",
        "dip your head in agreement",
        "nod repeatedly",
        "give a series of nods",
        "nod your head yes",
    ],
    "shake": [
        "shake your head",
        "shake your head no",
        "keep shaking your head",
        "turn your head side to side",
        "shake no",
        "disagree with a head shake",
        "move your head from side to side",
        "shake your head in disagreement",
        "wag your head no",
        "give repeated head shakes",
    ],
    "look_up": [
        "look up",
        "look upward",
        "raise your chin",
        "lift your head up",
        "gaze up at the ceiling",
        "turn your face upward",
        "tip your head up",
        "glance upward",
        "lift your gaze",
        "raise your eyes and head",
    ],
    "look_down": [
        "look down",
        "look downward",
        "lower your head",
        "drop your chin",
        "gaze down at the floor",
        "bow your head",
        "cast your eyes down",
        "look at the ground",
        "glance downward",
        "lower your gaze",
    ],
    "lean_in": [
        "lean in",
        "lean forward",
        "move closer",
        "lean toward the camera",
        "come closer",
        "draw near to the camera",
        "bring your face closer to the viewer",
        "lean closer",
        "move toward the camera",
        "come forward",
    ],
    "lean_back": [
        "lean back",
        "pull back",
        "move away from the camera",
        "lean backward",
        "draw back",
        "back away",
        "sit back, away from the viewer",
        "lean away",
        "move back from the camera",
        "pull away from the camera",
    ],
    **_side_phrases("imperative"),
}
NOUN_PHRASES = {
    "none": ["natural head motion", "ordinary movement", "normal talking head motion"],
    "nod": [
        "a nod",
        "gentle nods",
        "nodding",
        "a nodding head",
        "repeated nods",
        "head nods",
        "agreeing nods",
        "a series of nods",
        "affirmative nods",
        "approving nods",
    ],
    "shake": [
        "a head shake",
        "head shaking",
        "a shaking head",
        "side to side head shakes",
        "a no shake",
        "a disagreeing shake of the head",
        "repeated head shakes",
    ],
    "look_up": ["an upward look", "a glance up", "the chin raised", "the face turned upward", "an upward gaze"],
    "look_down": ["a downward look", "a glance down", "the chin lowered", "the head bowed", "a lowered gaze"],
    "lean_in": [
        "a lean toward the camera",
        "a forward lean",
        "the head moving closer",
        "a lean in",
        "a move toward the camera",
    ],
    "lean_back": [
        "a lean away from the camera",
        "a backward lean",
        "the head pulled back",
        "a lean back",
        "a move away from the camera",
    ],
    **_side_phrases("noun"),
}
IMPERATIVE_FRAMES = ["{s}", "{s} while you talk", "{s} as you speak", "please {s}", "{s} while speaking", "{s} now"]
NOUN_FRAMES = ["{s}", "{s} while talking", "a speaker with {s}", "talking with {s}", "{s} during the speech"]
FORMS = {  # caption form: (phrases, frames of the first phrase, probability)
    "third_person": (ACTION_PHRASES, None, 0.5),
    "imperative": (IMPERATIVE_PHRASES, IMPERATIVE_FRAMES, 0.32),
    "noun": (NOUN_PHRASES, NOUN_FRAMES, 0.18),
}

# Calm is said in many ways (calm, still, steady, composed, ...): adjectives, adverbs and whole descriptions
# that combine, so that the text encoder learns the family of words rather than a few phrases.
CALM_ADJECTIVES = [
    "calm",
    "still",
    "steady",
    "composed",
    "relaxed",
    "quiet",
    "serene",
    "tranquil",
    "peaceful",
    "motionless",
    "poised",
    "unruffled",
    "placid",
    "measured",
    "restrained",
    "understated",
    "low-key",
    "reserved",
    "sedate",
    "collected",
    "unflappable",
    "even-tempered",
    "cool",
    "gentle",
    "subdued",
    "stable",
    "settled",
    "unmoving",
    "level",
    "mellow",
]
CALM_ADVERBS = [
    "calmly",
    "steadily",
    "quietly",
    "serenely",
    "peacefully",
    "gently",
    "composedly",
    "tranquilly",
    "placidly",
    "evenly",
    "coolly",
    "sedately",
    "softly and steadily",
    "with composure",
    "with restraint",
    "with minimal movement",
    "barely moving",
    "hardly moving",
    "with a still head",
    "with a steady head",
    "keeping still",
    "keeping the head steady",
    "holding the head still",
    "without much motion",
    "with very little motion",
    "in a relaxed way",
    "in a measured way",
    "in a low-key way",
    "in an unhurried, calm way",
    "in a restrained manner",
    "without fuss",
    "staying still",
]
CALM_NOUNS = [
    "speaker",
    "talker",
    "talking head",
    "presenter",
    "narrator",
    "announcer",
    "lecturer",
    "host",
    "person",
    "delivery",
    "head",
    "voice over",
    "reader",
    "interviewee",
]
CALM_DESCRIPTIONS = [
    "barely moves the head",
    "hardly any head movement",
    "minimal head motion",
    "almost no movement",
    "moves very little",
    "the head stays still",
    "keeps the head still",
    "holds the head steady",
    "keeps perfectly still",
    "very little motion",
    "no big movements",
    "stays still while talking",
    "hardly moves at all",
    "a head that barely moves",
    "holds still and speaks",
    "keeps movement to a minimum",
    "stays put",
    "keeps steady",
    "sits still",
    "remains motionless",
    "stays calm and steady",
    "very still head",
]


def _calm_only(rng: np.random.Generator) -> str:
    """A whole caption of a calm talking head without another action."""
    a, b = rng.choice(CALM_ADJECTIVES, 2, replace=False)
    noun, adv, desc = rng.choice(CALM_NOUNS), rng.choice(CALM_ADVERBS), rng.choice(CALM_DESCRIPTIONS)
    pattern = str(
        rng.choice(
            [
                "a {a} {n}",
                "{a} and {b}",
                "a {a}, {b} {n}",
                "stays {a}",
                "keeps the head {a}",
                "{a} {n}",
                "talks {v}",
                "speaks {v}",
                "{d}",
                "a {a} {n}, {d}",
                "{a}, {d}",
                "{d}, {a} and {b}",
                "the {n} stays {a}",
                "{v}",
                "remains {a} and {b}",
            ]
        )
    )
    return pattern.format(a=a, b=b, n=noun, v=adv, d=desc)


MOOD_WORDS = {
    "neutral": [""],
    "calm": CALM_ADVERBS + CALM_ADJECTIVES + ["steady and calm", "calm and still", "still and steady"],
    "energetic": [
        "energetically",
        "in an animated way",
        "excitedly",
        "with lots of energy",
        "lively",
        "vigorously",
        "enthusiastically",
        "expressively",
        "with great enthusiasm",
        "spiritedly",
        "full of life",
        "with gusto",
        "animatedly",
        "exuberantly",
        "with zest",
        "bouncily",
    ],
    "sad": [
        "sadly",
        "in a sad way",
        "gloomily",
        "looking downcast",
        "dejectedly",
        "unhappily",
        "mournfully",
        "sorrowfully",
        "in a melancholy way",
    ],
    "confident": [
        "confidently",
        "with confidence",
        "proudly",
        "boldly",
        "assertively",
        "self-assured",
        "with authority",
        "self-assuredly",
    ],
    "thinking": [
        "thoughtfully",
        "while thinking",
        "pensively",
        "pondering",
        "as if considering something",
        "contemplatively",
        "hesitantly",
        "reflectively",
        "deep in thought",
    ],
}
MOOD_ONLY = {
    "energetic": [
        "an energetic speaker",
        "lively and animated",
        "very expressive and excited",
        "full of energy",
        "an enthusiastic presenter",
        "dynamic, vigorous head motion",
        "spirited and full of life",
        "an excited, lively talker",
        "an animated host",
        "high-energy delivery",
        "a bubbly, excited talker",
        "moves around a lot while talking",
    ],
    "sad": [
        "a sad speaker",
        "sad and downcast",
        "gloomy, dejected talk",
        "an unhappy person talking",
        "melancholy mood",
        "down-hearted and glum",
    ],
    "confident": [
        "a confident speaker",
        "confident and proud",
        "assertive, self-assured delivery",
        "bold and authoritative",
        "a determined presenter",
    ],
    "thinking": [
        "a thoughtful speaker",
        "thinking while talking",
        "pondering something",
        "pensive and reflective",
        "wondering aloud",
        "a puzzled, hesitant talker",
    ],
    "neutral": ["a person talking", "someone speaking", "a neutral talking head", "natural speech", "a presenter"],
}
AMP_WORDS = {
    0.55: ["slightly", "a little", "subtly", "barely", "softly", "a bit"],
    1.0: [""],
    1.6: ["strongly", "dramatically", "firmly", "in a big way", "broadly", "exaggeratedly"],
}
SPEED_WORDS = {
    0.6: ["slowly", "leisurely", "gradually", "in an unhurried way", "lazily"],
    1.0: [""],
    1.6: ["quickly", "rapidly", "briskly", "fast", "swiftly"],
}
SUBJECT_FRAMES = [
    "{s}",
    "the person {s}",
    "someone who {s}",
    "a speaker who {s}",
    "the head {s}",
    "talks and {s}",
    "{s} while speaking",
    "{s} while talking",
    "the character {s}",
    "she {s}",
    "he {s}",
]
THEN_WORDS = [" then ", ", then ", " and then ", ", after that ", ", then finally ", ", followed by "]


# With --mood-sequences, that share of the styles with two or three "then" segments gives each segment a mood of its
# own ("sits still, then gets excited"), so the model sees a mood change within a line; a segment without an action
# always names a mood. The shipped recipe has none (0); 0.35 was tried on 2026-12-03 (docs/pose_model.md).
MOOD_SEQUENCE_SHARE = 0.35
SEGMENT_MOODS = ["calm", "energetic", "sad", "confident", "thinking", "neutral"]
SEGMENT_MOOD_P = [0.3, 0.3, 0.1, 0.1, 0.1, 0.1]


def sample_style(rng: np.random.Generator, mood_sequences: float = 0.0) -> tuple[Style, dict]:
    """A random style and its label; ``mood_sequences``: the share of multi-segment styles that change mood
    (0: none, drawing the same random stream as before mood changes existed)."""
    r = rng.random()
    count = 1 if r < 0.72 else (2 if r < 0.95 else 3)
    actions = list(ACTION_PHRASES)
    moods = None
    if count == 1:
        seq = [str(rng.choice(actions, p=_action_p(actions)))]
    elif mood_sequences > 0 and rng.random() < mood_sequences:
        seq, moods = _mood_sequence(rng, count, actions)
    else:
        seq = []
        while len(seq) < count:
            a = str(rng.choice(actions[1:]))
            if not seq or a != seq[-1]:
                seq.append(a)
    mood = moods[0] if moods else str(rng.choice(list(MOOD_WORDS), p=[0.4, 0.14, 0.14, 0.1, 0.1, 0.12]))
    amp = float(rng.choice([0.55, 1.0, 1.6], p=[0.2, 0.6, 0.2]))
    speed = float(rng.choice([0.6, 1.0, 1.6], p=[0.2, 0.6, 0.2]))
    if {mood, *(moods or [])} & {"calm", "sad", "thinking"} and speed > 1:
        speed = 1.0
    segments = [Segment(a, mood=m) for a, m in zip(seq, moods or [None] * len(seq))]
    style = Style(segments=segments, mood=mood, amplitude=amp, speed=speed)
    label = {"actions": seq, "mood": mood, "amplitude": amp, "speed": speed}
    return style, {**label, "moods": moods} if moods else label


def _mood_sequence(rng: np.random.Generator, count: int, actions: list[str]) -> tuple[list[str], list[str]]:
    """Actions and moods of ``count`` segments whose moods change from one to the next (half the segments
    without an action, and those never neutral)."""
    seq, moods = [], []
    while len(seq) < count:
        a = str(rng.choice(actions)) if rng.random() < 0.5 else "none"
        m = str(rng.choice(SEGMENT_MOODS, p=SEGMENT_MOOD_P))
        if (a == "none" and m == "neutral") or (moods and m == moods[-1]):
            continue
        seq.append(a)
        moods.append(m)
    return seq, moods


def _action_p(actions: list[str]) -> list[float]:
    w = np.array([2.0 if a == "none" else 1.0 for a in actions])
    return list(w / w.sum())


def caption(rng: np.random.Generator, label: dict) -> str:
    """One paraphrased caption of a style label."""
    if label.get("moods"):
        return _mood_sequence_caption(rng, label)
    actions, mood = label["actions"], label["mood"]
    amp_w = str(rng.choice(AMP_WORDS[label["amplitude"]]))
    speed_w = str(rng.choice(SPEED_WORDS[label["speed"]]))
    mood_w = str(rng.choice(MOOD_WORDS[mood]))
    if actions == ["none"] and (mood != "neutral" or rng.random() < 0.5) and not amp_w and not speed_w:
        return _calm_only(rng) if mood == "calm" else str(rng.choice(MOOD_ONLY[mood]))
    form = str(rng.choice(list(FORMS), p=[f[2] for f in FORMS.values()]))
    phrases, frames, _ = FORMS[form]
    parts = []
    for i, a in enumerate(actions):
        phrase = str(rng.choice(phrases[a]))
        if i == 0:
            phrase = str(rng.choice(frames or SUBJECT_FRAMES)).format(s=phrase)
        parts.append(phrase)
    modifiers = [w for w in (amp_w, speed_w) if w]
    rng.shuffle(modifiers)
    text = parts[0]
    if modifiers:
        mod = " and ".join(modifiers) if len(modifiers) == 2 and rng.random() < 0.5 else " ".join(modifiers)
        text = f"{mod} {text}" if rng.random() < 0.3 and len(actions) == 1 else f"{text} {mod}"
    for p in parts[1:]:
        text += str(rng.choice(THEN_WORDS)) + p
    if mood_w:
        if rng.random() < 0.5:
            text = f"{text}, {mood_w}"
        else:
            text = f"{mood_w}, {text}" if rng.random() < 0.5 else f"{text} {mood_w}"
    text = " ".join(text.split()).strip(" ,")
    return text[0].upper() + text[1:] if rng.random() < 0.5 else text


def _mood_sequence_caption(rng: np.random.Generator, label: dict) -> str:
    """A caption whose "then" pieces each say their own mood: a whole mood description where the segment has no
    action, else the action with a mood word beside it."""
    form = str(rng.choice(list(FORMS), p=[f[2] for f in FORMS.values()]))
    phrases, frames, _ = FORMS[form]
    parts = []
    for i, (a, m) in enumerate(zip(label["actions"], label["moods"])):
        if a == "none":
            phrase = _calm_only(rng) if m == "calm" else str(rng.choice(MOOD_ONLY[m]))
        else:
            phrase = str(rng.choice(phrases[a]))
            if i == 0:
                phrase = str(rng.choice(frames or SUBJECT_FRAMES)).format(s=phrase)
            mood_w = str(rng.choice(MOOD_WORDS[m]))
            if mood_w:
                phrase = f"{phrase} {mood_w}" if rng.random() < 0.6 else f"{mood_w}, {phrase}"
        parts.append(phrase)
    text = parts[0]
    for p in parts[1:]:
        text += str(rng.choice(THEN_WORDS)) + p
    text = " ".join(text.split()).strip(" ,")
    return text[0].upper() + text[1:] if rng.random() < 0.5 else text


# ---------------------------------------------------------------- audio clips × styles
BLOCK = 10  # clips made in one go by one worker (one Piper session, seeded by the block)


def clip_family(index: int, families: tuple[str, ...]) -> str:
    """The voice family of clip ``index``: the families take turns."""
    return families[index % len(families)]


def build_clip(
    seed: int,
    index: int,
    family: str,
    styles: int,
    captions: int,
    piper: PiperSession | None,
    mood_sequences: float = 0.0,
    takes: int = 1,
    posture_to_side: bool = False,
) -> dict:
    """One clip of speech in ``family`` with ``styles`` styles, ``takes`` teacher motions of each (one seed each,
    the same captions) and up to ``captions`` captions per style. One take draws the random stream of before."""
    rng = np.random.default_rng([seed, index])
    seconds = float(rng.uniform(6.0, 10.0))
    voice = sample_voice(family, rng)
    audio = make_audio(rng, seconds, voice, piper)
    feats = compute_features(audio, len(audio) / SAMPLE_RATE, FPS)
    out = {"family": family, "voice": voice.describe(), "features": feats.matrix().astype(np.float16)}
    out.update(poses=[], labels=[], captions=[])
    if feats.is_silent:
        return out
    for _ in range(styles):
        style, label = sample_style(rng, mood_sequences)
        motions = [
            generate_motion(feats, style, seed=int(rng.integers(2**31)), posture_to_side=posture_to_side)
            for _ in range(takes)
        ]
        caps = sorted({caption(rng, label) for _ in range(captions)})
        caps = [c for c in caps if len(split_segments(c)) == len(label["actions"])] or caps[:1]
        for motion in motions:
            out["poses"].append(motion.astype(np.float32))
            out["labels"].append({**label, "family": family, "voice": voice.describe()})
            out["captions"].append(caps)
    return out


def build_block(args: tuple[int, int, int, tuple[str, ...], int, int, float, int, bool]) -> list[dict]:
    """Clips ``start`` .. ``stop - 1``; their Piper speech comes from one session seeded by (seed, start)."""
    seed, start, stop, families, styles, captions, mood_sequences, takes, posture_to_side = args
    piper = None
    if "piper" in {clip_family(i, families) for i in range(start, stop)}:
        piper = PiperSession(int(np.random.SeedSequence([seed, start, 0x7A1]).generate_state(1)[0]))
    return [
        build_clip(seed, i, clip_family(i, families), styles, captions, piper, mood_sequences, takes, posture_to_side)
        for i in range(start, stop)
    ]


def split_segments(prompt: str) -> list[str]:
    """The prompt's "then" pieces (same splitter as engine.pose.text_condition)."""
    from engine.pose.conditioning import segment_texts

    return segment_texts(prompt)


def write_corpus(
    out: str,
    feats: list[np.ndarray],
    poses: list[np.ndarray],
    pose_clip: list[int],
    cap_text: list[str],
    cap_pose: list[int],
    labels: list[dict],
    meta: dict,
) -> list[str]:
    """Write the corpus .npz that scripts/train_pose.py reads (atomically); returns its distinct texts.

    ``feats``: audio features per clip; ``poses``: motions, each of clip ``pose_clip[i]``; ``cap_text`` and
    ``cap_pose``: captions and the motion each describes. Every caption and every "then" piece of one is
    embedded once.
    """
    from engine.pose.conditioning import MAX_SEGMENTS
    from engine.text import embed_batch

    seg_lists = [split_segments(c) for c in cap_text]
    texts = sorted(set(cap_text) | {s for segs in seg_lists for s in segs})
    index = {t: i for i, t in enumerate(texts)}
    emb = np.concatenate([embed_batch(texts[i : i + 256]) for i in range(0, len(texts), 256)]).astype(np.float16)
    seg_idx = np.full((len(cap_text), MAX_SEGMENTS), -1, np.int32)
    for i, segs in enumerate(seg_lists):
        for j, s in enumerate(segs[:MAX_SEGMENTS]):
            seg_idx[i, j] = index[s]
    clip_len = np.array([len(f) for f in feats])
    pose_len = np.array([len(p) for p in poses])
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp.npz"
    np.savez(
        tmp,
        features=np.concatenate(feats),
        clip_offsets=np.concatenate([[0], np.cumsum(clip_len)]),
        poses=np.concatenate(poses).astype(np.float32),
        pose_offsets=np.concatenate([[0], np.cumsum(pose_len)]),
        pose_clip=np.array(pose_clip),
        caption_pose=np.array(cap_pose),
        caption_text_index=np.array([index[c] for c in cap_text]),
        caption_segments=seg_idx,
        text_embeddings=emb,
        texts=np.array(texts),
        labels=np.array([json.dumps(lab) for lab in labels]),
        meta=np.array(json.dumps({**meta, "fps": FPS})),
    )
    os.replace(tmp, out)
    return texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clips", type=int, default=2000, help="audio clips (each gets several styles)")
    ap.add_argument("--styles", type=int, default=3, help="styles (teacher motions) per audio clip")
    ap.add_argument("--captions", type=int, default=6, help="paraphrased captions per motion")
    ap.add_argument(
        "--families",
        default=",".join(TRAIN_FAMILIES),
        help=f"voice families of the speech, taking turns (of {', '.join(TRAINABLE)}; festival is for evaluation only)",
    )
    ap.add_argument(
        "--mood-sequences",
        type=float,
        default=0.0,
        help=f"share of multi-segment styles whose mood changes from segment to segment (0: the shipped recipe; "
        f"{MOOD_SEQUENCE_SHARE}: the 2026-12-03 trial)",
    )
    ap.add_argument(
        "--takes",
        type=int,
        default=1,
        help="teacher takes (seeds) per style, sharing its captions, so the model sees how far takes of one line "
        "differ (1: the shipped recipe)",
    )
    ap.add_argument(
        "--posture-to-side",
        action="store_true",
        help="the teacher as the keyword model is now: a mood's posture leans to the side a part asks for (off: "
        "the teacher the shipped weights learned from, a thinking head always up and to the viewer's left)",
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "data", "corpus.npz"))
    args = ap.parse_args()
    families = tuple(f.strip() for f in args.families.split(",") if f.strip())
    if not families or any(f not in TRAINABLE for f in families):
        raise SystemExit(f"--families: choose from {', '.join(TRAINABLE)} (festival is reserved for evaluation)")
    t0 = time.time()
    starts = range(0, args.clips, BLOCK)
    jobs = [
        (
            args.seed,
            a,
            min(args.clips, a + BLOCK),
            families,
            args.styles,
            args.captions,
            args.mood_sequences,
            args.takes,
            args.posture_to_side,
        )
        for a in starts
    ]
    clips = []
    with Pool(args.workers) as pool:
        for block in pool.imap(build_block, jobs):
            clips += block
            if len(clips) % 100 < BLOCK:
                print(f"clips {len(clips)}/{args.clips}  {time.time() - t0:.0f}s", flush=True)
    t_audio = time.time() - t0

    feats, poses, pose_clip, labels = [], [], [], []
    cap_text, cap_pose = [], []
    for clip in clips:
        if not clip["poses"]:
            continue
        ci = len(feats)
        feats.append(clip["features"])
        for motion, label, caps in zip(clip["poses"], clip["labels"], clip["captions"]):
            pi = len(poses)
            poses.append(motion)
            pose_clip.append(ci)
            labels.append(label)
            for c in caps:
                cap_text.append(c)
                cap_pose.append(pi)

    meta = {"seed": args.seed, "clips": args.clips, "families": list(families)}
    if args.mood_sequences:  # (the shipped recipe's meta as it was)
        meta["mood_sequences"] = args.mood_sequences
    if args.takes != 1:
        meta["takes"] = args.takes
    if args.posture_to_side:
        meta["posture_to_side"] = True
    texts = write_corpus(args.out, feats, poses, pose_clip, cap_text, cap_pose, labels, meta)
    lengths = np.array([len(f) for f in feats])
    report = {
        "out": args.out,
        "seed": args.seed,
        "audio_clips": len(feats),
        "clips_per_family": {f: sum(c["family"] == f and bool(c["poses"]) for c in clips) for f in families},
        "motions": len(poses),
        "captions": len(cap_text),
        "unique_texts": len(texts),
        "hours": round(float(lengths.sum() / FPS / 3600), 3),
        "seconds_audio_and_teacher": round(t_audio, 1),
        "seconds_total": round(time.time() - t0, 1),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
