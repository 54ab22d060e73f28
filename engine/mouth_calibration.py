"""The mouth channels in millimetres of a real face, calibrated to published speech kinematics.

The face unit is the interpupillary distance (``IPD_MM``, the adult mean): the renderer measures it on each portrait
(iris centre to iris centre), so the same channel value parts the lips by the same share of the face on any face
size in any frame. ``mouth_open`` = 1 parts the lips ``APERTURE_MM_PER_UNIT`` mm more than the portrait at rest,
a wide-open mouth; ordinary speech stays well below that, so ``strength`` above 1 has room for stylised animation.

Conversational speech (docs/mouth.md cites the sources): the vertical lip aperture is largest on open vowels
(about 10-15 mm), smaller on mid vowels, a few millimetres on close and rounded vowels and on consonants made with
the teeth nearly together, and zero on bilabial closures (Fromkin 1964; Westbury & Hashi 1997). Most of it comes
from the jaw and lower lip, the upper lip lifts a little. Louder speech amplifies the same pattern: jaw and lips
open further as the voice gets louder (Schulman 1989; Huber & Chandrasekaran 2006).

``calibrate_opening`` maps the lip-sync's relative opening (loudness within the recording times the first-formant
share of the spectrum, plus the viseme's target; 0..1) onto that scale: the speaker's open vowels at their ordinary
level (the 90th percentile of the opening while they speak) become ``OPEN_VOWEL_MM``, the rest scales with them,
so louder stretches open more, and a soft limit keeps even strong peaks of ordinary speech below
``SPEECH_LIMIT_MM``. The recording's own level says nothing about vocal effort (gain is arbitrary), so loudness
counts relative to the rest of the recording.

A portrait whose lips are already parted at rest (a smile shows its teeth) is part way through the opening
before the jaw moves: ``parted_opening`` adds only a share of the speech's aperture, ``REST_SHARE_MM / (REST_SHARE_MM
+ rest gap)`` (half of it on a 10 mm smile), so the same line opens a smiling face a little further than a closed
one rather than a whole rest gap further; the share is the same for every syllable, so the mouth still moves in
step with the speech. ``REST_SHARE_MM`` was set on the tuning voices (espeak-ng and flite: closed lips open 9.8 mm at
the 90th percentile, so a 10 mm smile opens about 15 mm).
"""

from __future__ import annotations

import numpy as np

IPD_MM = 63.0  # interpupillary distance: the face unit
APERTURE_MM_PER_UNIT = 30.0  # lip aperture added by mouth_open = 1
JAW_SHARE = 0.85  # share of the added aperture from the jaw and lower lip; the upper lip lifts the rest

# conversational lip aperture (mm, inner lip edges at the midline) per viseme, at a speaker's ordinary level
VISEME_APERTURE_MM: dict[str, float] = {
    "A": 0.0,  # p b m: lips closed
    "B": 3.0,  # most consonants, /i/: teeth nearly together
    "C": 9.0,  # /ɛ æ ʌ eɪ/: open-mid
    "D": 12.0,  # /ɑ aɪ aʊ/: open
    "E": 8.0,  # /ɔ ɝ/: open-mid, rounded
    "F": 5.0,  # /u o w/: rounded, small opening
    "G": 2.0,  # f v: lower lip against the upper teeth
    "H": 6.0,  # l: tongue tip up, jaw half open
    "X": 0.0,  # rest
}
OPEN_VOWEL_MM = 11.0  # the speaker's open vowels at their ordinary level (90th percentile of the opening)
KNEE_MM, SPEECH_LIMIT_MM = 12.0, 20.0  # above the knee, openings of ordinary speech bend softly toward the limit


REST_SHARE_MM = 10.0  # lips parted this far at rest add half of the speech's aperture


def parted_opening(aperture, rest_mm: float):
    """The opening (any unit, any array type) to add to lips parted by ``rest_mm`` millimetres at rest for the
    speech's ``aperture`` on closed lips: ``aperture * REST_SHARE_MM / (REST_SHARE_MM + rest_mm)``."""
    return aperture * (REST_SHARE_MM / (REST_SHARE_MM + max(0.0, rest_mm)))


def calibrate_opening(raw: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """``mouth_open`` (units of ``APERTURE_MM_PER_UNIT``) from the relative opening ``raw`` (0..1 per analysis
    frame) and speech activity ``speech`` (0..1): see the module's docstring."""
    raw = np.clip(np.asarray(raw, dtype=np.float64), 0.0, None)
    talking = (np.asarray(speech) > 0.5) & (raw > 0.02)
    if not talking.any():
        return np.zeros_like(raw)
    ref = max(float(np.percentile(raw[talking], 90)), 1e-3)
    mm = OPEN_VOWEL_MM * raw / ref
    span = SPEECH_LIMIT_MM - KNEE_MM
    mm = np.where(mm > KNEE_MM, KNEE_MM + span * np.tanh((mm - KNEE_MM) / span), mm)
    return mm / APERTURE_MM_PER_UNIT
