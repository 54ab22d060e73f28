"""IPA phones → mouth shapes, for every language: one table of articulatory features, not one per language.

A phone (espeak-ng's IPA, e.g. ``p``, ``ɔ̃``, ``aɪ``, ``tʃ``, ``ɑː``) is read as its letters without stress,
length and diacritics. A vowel is its nucleus (the first vowel letter: ``aɪ`` is ``a``) with height, backness
and rounding (the IPA vowel chart); a consonant is its place and manner (the IPA consonant chart; an
affricate such as ``tʃ`` takes its release, ``ʃ``). From those features alone come the Rhubarb-style viseme
(A closed p/b/m, B teeth, C open, D wide open, E rounded-open, F puckered, G f/v, H l, X rest) and the
target values of the four mouth channels: bilabial stops and nasals close the lips, labiodentals tuck the
lower lip, vowels open the jaw with their height and round the lips with their rounding, rounded glides
(w, ɥ) pucker, and pauses rest.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

PAUSE = "_"

# vowel letter → (height 0 close … 6 open, backness 0 front / 1 central / 2 back, rounded)
VOWELS: dict[str, tuple[int, int, bool]] = {
    "i": (0, 0, False), "y": (0, 0, True), "ɨ": (0, 1, False), "ʉ": (0, 1, True), "ɯ": (0, 2, False),
    "u": (0, 2, True), "ɪ": (1, 0, False), "ʏ": (1, 0, True), "ᵻ": (1, 1, False), "ʊ": (1, 2, True),
    "e": (2, 0, False), "ø": (2, 0, True), "ɘ": (2, 1, False), "ɵ": (2, 1, True), "ɤ": (2, 2, False),
    "o": (2, 2, True), "ə": (3, 1, False), "ɚ": (3, 1, False), "ɛ": (4, 0, False), "œ": (4, 0, True),
    "ɜ": (4, 1, False), "ɝ": (4, 1, False), "ɞ": (4, 1, True), "ʌ": (4, 2, False), "ɔ": (4, 2, True),
    "æ": (5, 0, False), "ɐ": (5, 1, False), "a": (6, 0, False), "ɶ": (6, 0, True), "ɑ": (6, 2, False),
    "ɒ": (6, 2, True),
}  # fmt: skip
RHOTIC_VOWELS = "ɚɝ"

# consonant letter → (place, manner)
CONSONANTS: dict[str, tuple[str, str]] = {
    **{c: ("bilabial", m) for c, m in zip("pbmɸβʙ", ["stop", "stop", "nasal", "fricative", "fricative", "trill"])},
    **{c: ("labiodental", m) for c, m in zip("fvɱʋ", ["fricative", "fricative", "nasal", "approximant"])},
    **{c: ("dental", "fricative") for c in "θð"},
    **{c: ("alveolar", m) for c, m in zip("tdnrɾszɹ", ["stop", "stop", "nasal", "trill", "tap", "fricative",
                                                          "fricative", "approximant"])},
    **{c: ("alveolar", "lateral") for c in "lɬɮɫɺ"},
    **{c: ("postalveolar", "fricative") for c in "ʃʒɕʑ"},
    **{c: ("retroflex", m) for c, m in zip("ʈɖɳɽʂʐɻ", ["stop", "stop", "nasal", "tap", "fricative", "fricative",
                                                         "approximant"])},
    "ɭ": ("retroflex", "lateral"),
    **{c: ("palatal", m) for c, m in zip("cɟɲçʝj", ["stop", "stop", "nasal", "fricative", "fricative",
                                                    "approximant"])},
    "ʎ": ("palatal", "lateral"),
    **{c: ("velar", m) for c, m in zip("kɡgŋxɣɰ", ["stop", "stop", "stop", "nasal", "fricative", "fricative",
                                                    "approximant"])},
    "ʟ": ("velar", "lateral"),
    **{c: ("uvular", m) for c, m in zip("qɢɴχʁʀ", ["stop", "stop", "nasal", "fricative", "fricative", "trill"])},
    **{c: ("pharyngeal", "fricative") for c in "ħʕ"},
    **{c: ("glottal", m) for c, m in zip("hɦʔ", ["fricative", "fricative", "stop"])},
    **{c: ("labial-velar", "approximant") for c in "wʍɥ"},
}  # fmt: skip

# vowel height → jaw opening (mouth_open target); rounding by height → mouth_round
_OPEN_BY_HEIGHT = (0.18, 0.25, 0.4, 0.45, 0.55, 0.65, 0.9)
_ROUND_BY_HEIGHT = (0.95, 0.9, 0.8, 0.6, 0.5, 0.45, 0.4)


@dataclass(frozen=True)
class Features:
    """Articulatory features of one phone; ``kind`` is ``vowel``, ``consonant`` or ``pause``."""

    kind: str
    height: int = 0
    backness: int = 0
    rounded: bool = False
    rhotic: bool = False
    place: str = ""
    manner: str = ""


@dataclass(frozen=True)
class Shape:
    """The mouth for one phone: its viseme letter and the targets of the four channels (0..1)."""

    viseme: str
    open: float
    wide: float
    round: float
    closed: float

    @property
    def targets(self) -> tuple[float, float, float, float]:
        return (self.open, self.wide, self.round, self.closed)


REST = Shape("X", 0.0, 0.25, 0.0, 0.7)


def letters(phone: str) -> str:
    """The base letters of an IPA phone: no stress, length, tie bars, diacritics or syllable marks."""
    out = []
    for ch in unicodedata.normalize("NFD", phone):
        if unicodedata.combining(ch) or ch in "ˈˌːˑ͜͡-.'ʰʲʷˠˤ̃ʼ":
            continue
        out.append(ch)
    return "".join(out)


@lru_cache(maxsize=4096)
def features(phone: str) -> Features:
    """The articulatory features of an IPA phone (its first vowel letter, else its last consonant letter)."""
    base = letters(phone)
    if not base or base == PAUSE or all(ch in "_|‖ " for ch in base):
        return Features("pause")
    for ch in base:
        if ch in VOWELS:
            height, back, rounded = VOWELS[ch]
            return Features("vowel", height, back, rounded, rhotic=ch in RHOTIC_VOWELS)
    for ch in reversed(base):
        if ch in CONSONANTS:
            place, manner = CONSONANTS[ch]
            return Features("consonant", place=place, manner=manner)
    return Features("consonant", place="unknown", manner="unknown")


def shape_of_features(f: Features) -> Shape:
    """The mouth shape for articulatory features: the one mapping every language shares."""
    if f.kind == "pause":
        return REST
    if f.kind == "vowel":
        opening = _OPEN_BY_HEIGHT[f.height]
        if f.rounded or f.rhotic:
            rounding = _ROUND_BY_HEIGHT[f.height] if f.rounded else 0.5
            viseme = "F" if f.rounded and f.height <= 2 else "E"
            return Shape(viseme, min(opening, 0.45) if viseme == "E" else 0.22, 0.05, rounding, 0.0)
        wide = 0.6 - 0.15 * f.backness - 0.03 * f.height
        viseme = "B" if f.height <= 1 else "D" if f.height == 6 else "C"
        return Shape(viseme, opening, wide, 0.0, 0.0)
    if f.place == "bilabial":
        closed = 1.0 if f.manner in ("stop", "nasal", "trill") else 0.7
        return Shape("A", 0.0, 0.2, 0.0, closed)
    if f.place == "labiodental":
        return Shape("G", 0.1, 0.35, 0.0, 0.35) if f.manner != "approximant" else Shape("G", 0.15, 0.35, 0.0, 0.2)
    if f.place == "labial-velar":
        return Shape("F", 0.22, 0.0, 0.95, 0.0)
    if f.manner == "lateral":
        return Shape("H", 0.35, 0.4, 0.0, 0.0)
    if f.place == "glottal" and f.manner == "fricative":
        return Shape("C", 0.45, 0.45, 0.0, 0.0)
    if f.place in ("postalveolar", "retroflex"):
        return Shape("B", 0.15, 0.3, 0.35, 0.0)  # lips pushed forward a little (ʃ, ʒ, tʃ)
    if f.place in ("velar", "uvular", "pharyngeal"):
        return Shape("B", 0.25, 0.5, 0.0, 0.0)
    return Shape("B", 0.18, 0.55, 0.0, 0.0)  # dental, alveolar, palatal, glottal stop: teeth nearly together


@lru_cache(maxsize=4096)
def shape(phone: str) -> Shape:
    """The mouth shape of an IPA phone (``_`` or an empty name: a pause)."""
    return shape_of_features(features(phone))


def is_bilabial_closure(phone: str) -> bool:
    """p, b, m (and bilabial trills): the lips close."""
    return shape(phone).closed >= 1.0


@lru_cache(maxsize=4096)
def is_tongue_tip(phone: str) -> bool:
    """Made with the tongue tip up at the teeth or the ridge behind them, where it shows: l, n, t, d (and taps,
    trills, laterals there) and th (dental fricatives). s and z keep the tip low behind the teeth."""
    f = features(phone)
    if f.kind != "consonant" or f.place not in ("dental", "alveolar"):
        return False
    return f.place == "dental" or f.manner in ("stop", "nasal", "lateral", "tap", "trill")
