"""Build the synthetic motion corpus for the Pose Latent Diffusion model (one command, one seed).

espeak-ng speech (many voices, rates, pitches, pauses, generated sentences) × styles ×
the procedural teacher (engine.procedural). Each motion gets several paraphrased captions
(synonyms, sentence frames, "then" compositions, intensity and speed words; left/right are
the viewer's screen directions). Stored: audio features (.matrix()), poses and caption
embeddings (whole caption + one per "then" segment) in one .npz; no audio.

    .venv/bin/python scripts/build_corpus.py --seed 0 --clips 1500 --out data/corpus.npz
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from engine.audio import SAMPLE_RATE, compute_features  # noqa: E402
from engine.procedural import generate_motion  # noqa: E402
from engine.styles import Segment, Style  # noqa: E402

FPS = 25.0
VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
VARIANTS = ["", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3", "+f4", "+f5", "+klatt"]
VARIANTS += ["+Andy", "+Annie", "+david", "+Denis", "+Gene", "+john", "+Lee", "+linda", "+max", "+Mike", "+steph"]

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


def speak(text: str, voice: str, rate: int, pitch: int, amp: int) -> np.ndarray:
    import soundfile as sf

    with tempfile.NamedTemporaryFile(suffix=".wav", delete=False) as tmp:
        path = tmp.name
    try:
        cmd = ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-a", str(amp), "-w", path, text]
        subprocess.run(cmd, check=True, capture_output=True)
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
    finally:
        os.unlink(path)
    audio = audio.mean(axis=1)
    if sr != SAMPLE_RATE:
        import soxr

        audio = soxr.resample(audio, sr, SAMPLE_RATE).astype(np.float32)
    return audio


def make_audio(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Speech of one voice with pauses, about ``seconds`` long (sentences + silences, light noise)."""
    voice = str(rng.choice(VOICES)) + str(rng.choice(VARIANTS))
    rate, pitch, amp = int(rng.integers(115, 230)), int(rng.integers(15, 90)), int(rng.integers(60, 180))
    parts = [np.zeros(int(rng.uniform(0.0, 0.8) * SAMPLE_RATE), np.float32)]
    total = len(parts[0])
    while total < seconds * SAMPLE_RATE:
        text = sentence(rng)
        try:
            clip = speak(text, voice, rate, pitch, amp)
        except subprocess.CalledProcessError:
            voice = "en-us"
            continue
        parts.append(clip)
        gap = rng.choice([0.1, 0.3, 0.6, 1.0, 1.8], p=[0.25, 0.3, 0.2, 0.15, 0.1]) * rng.uniform(0.7, 1.3)
        parts.append(np.zeros(int(gap * SAMPLE_RATE), np.float32))
        total += len(clip) + len(parts[-1])
    audio = np.concatenate(parts)[: int(seconds * SAMPLE_RATE)]
    audio += rng.normal(0, 10 ** rng.uniform(-4.5, -3.0), len(audio)).astype(np.float32)  # room noise
    return audio.astype(np.float32)


# ---------------------------------------------------------------- styles and captions
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
    "tilt_left": [
        "tilts the head to the left",
        "tilts left",
        "leans the head to the left",
        "cocks the head left",
        "head tilted toward the left",
        "tilting the head to the left side",
        "inclines the head left",
        "tilts the head sideways to the left",
        "cocks the head to the left side",
    ],
    "tilt_right": [
        "tilts the head to the right",
        "tilts right",
        "leans the head to the right",
        "cocks the head right",
        "head tilted toward the right",
        "tilting the head to the right side",
        "inclines the head right",
    ],
    "look_left": [
        "looks to the left",
        "looks left",
        "turns to the left",
        "glances left",
        "turns the head left",
        "gazes toward the left",
        "faces left",
        "looking to the left side",
        "turns away to the left",
        "looks away to the left",
        "looks over to the left",
        "turns the face to the left",
    ],
    "look_right": [
        "looks to the right",
        "looks right",
        "turns to the right",
        "glances right",
        "turns the head right",
        "gazes toward the right",
        "faces right",
        "looking to the right side",
        "turns away to the right",
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
}
# The same actions as commands ("nod your head") and as noun phrases ("a head tilt to the left"):
# prompts are typed in every grammatical form. Right-hand phrases mirror the left-hand ones.
IMPERATIVE_PHRASES = {
    "none": ["just talk", "talk naturally", "speak normally", "keep talking", "speak as usual"],
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
        "chat",
        "say a few words",
        "deliver the lines",
        "speak to the camera",
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
    "tilt_left": [
        "tilt your head to the left",
        "tilt left",
        "lean your head to the left",
        "cock your head left",
        "tip your head toward the left",
        "incline your head to the left side",
        "tilt your head sideways to the left",
        "cock your head to the left side",
    ],
    "look_left": [
        "look to the left",
        "look left",
        "turn to the left",
        "glance left",
        "turn your head left",
        "gaze toward the left",
        "face left",
        "look toward screen left",
        "turn to the viewer's left",
        "look to the left side of the picture",
        "look away to the left",
        "look over to the left",
        "turn your face to the left",
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
}
NOUN_PHRASES = {
    "none": ["natural head motion", "ordinary movement", "normal talking head motion"],
    "nod": ["a nod", "gentle nods", "nodding", "a nodding head", "repeated nods", "head nods", "agreeing nods"],
    "shake": ["a head shake", "head shaking", "a shaking head", "side to side head shakes", "a no shake"],
    "tilt_left": ["a head tilt to the left", "a left head tilt", "the head tilted left", "a tilt toward the left"],
    "look_left": [
        "a glance to the left",
        "a look toward the left",
        "the face turned left",
        "a turn toward screen left",
        "eyes and head to the viewer's left",
        "a series of nods",
        "affirmative nods",
        "approving nods",
        "a disagreeing shake of the head",
        "repeated head shakes",
        "a sideways look to the left",
    ],
    "look_up": ["an upward look", "a glance up", "the chin raised", "the face turned upward"],
    "look_down": ["a downward look", "a glance down", "the chin lowered", "the head bowed"],
    "lean_in": ["a lean toward the camera", "a forward lean", "the head moving closer", "a lean in"],
    "lean_back": ["a lean away from the camera", "a backward lean", "the head pulled back", "a lean back"],
}
for _table in (IMPERATIVE_PHRASES, NOUN_PHRASES):
    for _src, _dst in (("tilt_left", "tilt_right"), ("look_left", "look_right")):
        _table[_dst] = [p.replace("left", "right") for p in _table[_src]]
IMPERATIVE_FRAMES = ["{s}", "{s} while you talk", "{s} as you speak", "please {s}", "{s} while speaking", "{s} now"]
NOUN_FRAMES = ["{s}", "{s} while talking", "a speaker with {s}", "talking with {s}", "{s} during the speech"]
FORMS = {  # caption form: (phrases, frames of the first phrase, probability)
    "third_person": (ACTION_PHRASES, None, 0.5),
    "imperative": (IMPERATIVE_PHRASES, IMPERATIVE_FRAMES, 0.32),
    "noun": (NOUN_PHRASES, NOUN_FRAMES, 0.18),
}

MOOD_WORDS = {
    "neutral": [""],
    "calm": ["calmly", "calm", "gently", "in a relaxed way", "serenely", "quietly", "steady and calm", "peacefully"],
    "energetic": [
        "energetically",
        "in an animated way",
        "excitedly",
        "with lots of energy",
        "lively",
        "vigorously",
        "enthusiastically",
        "expressively",
        "an upward gaze",
        "a lowered gaze",
        "a move toward the camera",
        "a move away from the camera",
        "composedly",
        "with minimal movement",
        "barely moving",
        "in an unhurried, calm way",
        "with great enthusiasm",
        "spiritedly",
        "full of life",
        "with gusto",
    ],
    "sad": ["sadly", "in a sad way", "gloomily", "looking downcast", "dejectedly", "unhappily", "mournfully"],
    "confident": ["confidently", "with confidence", "proudly", "boldly", "assertively", "self-assured"],
    "thinking": [
        "thoughtfully",
        "while thinking",
        "pensively",
        "pondering",
        "as if considering something",
        "contemplatively",
        "hesitantly",
        "sorrowfully",
        "in a melancholy way",
        "with authority",
        "self-assuredly",
        "reflectively",
        "deep in thought",
    ],
}
MOOD_ONLY = {
    "calm": [
        "a calm speaker",
        "calm and still",
        "stays calm and steady",
        "relaxed and quiet",
        "very still head",
        "gentle, subtle motion",
        "a composed, peaceful talker",
        "composed and motionless",
        "quiet, with minimal movement",
    ],
    "energetic": [
        "an energetic speaker",
        "lively and animated",
        "very expressive and excited",
        "full of energy",
        "an enthusiastic presenter",
        "dynamic, vigorous head motion",
        "spirited and full of life",
        "an excited, lively talker",
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


def sample_style(rng: np.random.Generator) -> tuple[Style, dict]:
    r = rng.random()
    count = 1 if r < 0.72 else (2 if r < 0.95 else 3)
    actions = list(ACTION_PHRASES)
    if count == 1:
        seq = [str(rng.choice(actions, p=_action_p(actions)))]
    else:
        seq = []
        while len(seq) < count:
            a = str(rng.choice(actions[1:]))
            if not seq or a != seq[-1]:
                seq.append(a)
    mood = str(rng.choice(list(MOOD_WORDS), p=[0.4, 0.14, 0.14, 0.1, 0.1, 0.12]))
    amp = float(rng.choice([0.55, 1.0, 1.6], p=[0.2, 0.6, 0.2]))
    speed = float(rng.choice([0.6, 1.0, 1.6], p=[0.2, 0.6, 0.2]))
    if mood in ("calm", "sad", "thinking") and speed > 1:
        speed = 1.0
    style = Style(segments=[Segment(a) for a in seq], mood=mood, amplitude=amp, speed=speed)
    return style, {"actions": seq, "mood": mood, "amplitude": amp, "speed": speed}


def _action_p(actions: list[str]) -> list[float]:
    w = np.array([2.0 if a == "none" else 1.0 for a in actions])
    return list(w / w.sum())


def caption(rng: np.random.Generator, label: dict) -> str:
    """One paraphrased caption of a style label."""
    actions, mood = label["actions"], label["mood"]
    amp_w = str(rng.choice(AMP_WORDS[label["amplitude"]]))
    speed_w = str(rng.choice(SPEED_WORDS[label["speed"]]))
    mood_w = str(rng.choice(MOOD_WORDS[mood]))
    if actions == ["none"] and (mood != "neutral" or rng.random() < 0.5) and not amp_w and not speed_w:
        return str(rng.choice(MOOD_ONLY[mood]))
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


# ---------------------------------------------------------------- one audio clip × styles
def build_clip(args: tuple[int, int, int, int]) -> dict:
    seed, index, styles_per_clip, captions_per_style = args
    rng = np.random.default_rng([seed, index])
    seconds = float(rng.uniform(6.0, 10.0))
    audio = make_audio(rng, seconds)
    feats = compute_features(audio, len(audio) / SAMPLE_RATE, FPS)
    out = {"features": feats.matrix().astype(np.float16), "poses": [], "labels": [], "captions": []}
    if feats.is_silent:
        return out
    for k in range(styles_per_clip):
        style, label = sample_style(rng)
        motion = generate_motion(feats, style, seed=int(rng.integers(2**31)))
        caps = sorted({caption(rng, label) for _ in range(captions_per_style)})
        caps = [c for c in caps if len(split_segments(c)) == len(label["actions"])] or caps[:1]
        out["poses"].append(motion.astype(np.float32))
        out["labels"].append(label)
        out["captions"].append(caps)
        del k
    return out


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
    ap.add_argument("--clips", type=int, default=1500, help="audio clips (each gets several styles)")
    ap.add_argument("--styles", type=int, default=3, help="styles (teacher motions) per audio clip")
    ap.add_argument("--captions", type=int, default=5, help="paraphrased captions per motion")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "data", "corpus.npz"))
    args = ap.parse_args()
    t0 = time.time()
    jobs = [(args.seed, i, args.styles, args.captions) for i in range(args.clips)]
    with Pool(args.workers) as pool:
        clips = []
        for i, clip in enumerate(pool.imap(build_clip, jobs, chunksize=4)):
            clips.append(clip)
            if (i + 1) % 100 == 0:
                print(f"clips {i + 1}/{args.clips}  {time.time() - t0:.0f}s", flush=True)
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

    texts = write_corpus(
        args.out, feats, poses, pose_clip, cap_text, cap_pose, labels, {"seed": args.seed, "clips": args.clips}
    )
    lengths = np.array([len(f) for f in feats])
    report = {
        "out": args.out,
        "seed": args.seed,
        "audio_clips": len(feats),
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
