"""Phone recognition: PocketSphinx's bundled en-us acoustic model in all-phone mode.

Like Rhubarb Lip Sync, the recognizer decodes phones (not words) with the phone
language model that ships inside the ``pocketsphinx`` package, so it needs no
transcript and degrades gracefully for other languages (English phones are the
closest match). Long audio is decoded in chunks cut at quiet points. The recognizer's CMU phones are
returned in IPA, the phone alphabet the rest of the lip sync reads (engine.ipa).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .audio import SAMPLE_RATE

CHUNK_SECONDS = 15.0  # seconds per decoded utterance: also the longest stretch without a cancel check
PHONE_RATE = 100  # pocketsphinx frames per second

# the en-us model's CMU (ARPABET) phones in IPA
ARPABET_IPA: dict[str, str] = {
    "AA": "ɑ", "AE": "æ", "AH": "ʌ", "AO": "ɔ", "AW": "aʊ", "AY": "aɪ", "B": "b", "CH": "tʃ", "D": "d", "DH": "ð",
    "EH": "ɛ", "ER": "ɝ", "EY": "eɪ", "F": "f", "G": "ɡ", "HH": "h", "IH": "ɪ", "IY": "i", "JH": "dʒ", "K": "k",
    "L": "l", "M": "m", "N": "n", "NG": "ŋ", "OW": "oʊ", "OY": "ɔɪ", "P": "p", "R": "ɹ", "S": "s", "SH": "ʃ",
    "T": "t", "TH": "θ", "UH": "ʊ", "UW": "u", "V": "v", "W": "w", "Y": "j", "Z": "z", "ZH": "ʒ",
}  # fmt: skip


@dataclass
class PhoneSegment:
    phone: str  # IPA (engine.ipa), "_" for silence or noise
    start: float  # seconds
    end: float


_lock = threading.Lock()


def _decoder():
    """A fresh decoder: pocketsphinx adapts state across utterances, and results must
    not depend on what was decoded before (≈0.15 s to create)."""
    from pocketsphinx import Decoder, get_model_path

    model = os.path.join(get_model_path(), "en-us")
    return Decoder(
        hmm=os.path.join(model, "en-us"),
        allphone=os.path.join(model, "en-us-phone.lm.bin"),
        lw=2.0,
        beam=1e-20,
        pbeam=1e-20,
        ds=2,  # every other frame: twice as fast, closures and vowels still resolved
        topn=2,
        cmn="batch",  # normalize each utterance on its own: results do not depend on earlier calls
        backtrace=False,
        loglevel="FATAL",
    )


def _cut_points(audio: np.ndarray, chunk: float) -> list[int]:
    """Sample indices to cut long audio at, each at the quietest 10 ms in the chunk's last 3 s."""
    n = len(audio)
    step = int(chunk * SAMPLE_RATE)
    cuts = [0]
    while n - cuts[-1] > step:
        lo = cuts[-1] + step - 3 * SAMPLE_RATE
        hi = cuts[-1] + step
        win = audio[lo:hi][: (hi - lo) // 160 * 160].reshape(-1, 160)
        quiet = int(np.argmin((win.astype(np.float64) ** 2).mean(axis=1)))
        cuts.append(lo + quiet * 160 + 80)
    cuts.append(n)
    return cuts


def recognize(
    audio: np.ndarray, progress: Callable[[int, int, str], None] | None = None, chunk: float = CHUNK_SECONDS
) -> list[PhoneSegment]:
    """Phone segments of 16 kHz mono float audio, in time order."""
    cuts = _cut_points(audio, chunk)
    segments: list[PhoneSegment] = []
    with _lock:
        dec = _decoder()
    if progress is not None:  # a cancellation point between creating the decoder and the first utterance
        progress(0, len(audio), "recognizing phones")
    for k in range(len(cuts) - 1):
        a, b = cuts[k], cuts[k + 1]
        pcm = (np.clip(audio[a:b], -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        with _lock:
            dec.start_utt()
            dec.process_raw(pcm, full_utt=True)
            dec.end_utt()
            segs = [(s.word, s.start_frame, s.end_frame) for s in dec.seg()]
        offset = a / SAMPLE_RATE
        for word, f0, f1 in segs:
            phone = ARPABET_IPA.get(word, "_")
            segments.append(PhoneSegment(phone, offset + f0 / PHONE_RATE, offset + (f1 + 1) / PHONE_RATE))
        if progress is not None:
            progress(b, len(audio), "recognizing phones")
    return segments
