"""Speech with known phoneme timing: espeak-ng's own phoneme events through its C library.

espeak-ng reports every phoneme it synthesizes as an event with its position in
the audio (``espeakINITIALIZE_PHONEME_EVENTS``). That is the ground truth the lip
sync evaluation compares against: the timing is the synthesizer's, not a
recognizer's. Used by ``scripts/eval_lips.py`` and the lip-sync tests.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_EVENT_END, _EVENT_PHONEME, _EVENT_MSG_TERMINATED = 5, 7, 6
_RATE, _PITCH = 1, 3


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass
class Phone:
    name: str  # espeak-ng phoneme mnemonic, e.g. "p", "aI", "@"
    start: float  # seconds
    end: float


_lib = None
_rate = 0


def _library():
    global _lib, _rate
    if _lib is None:
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        lib = ctypes.CDLL(path)
        lib.espeak_Initialize.restype = ctypes.c_int
        _rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS)
        if _rate <= 0:
            raise RuntimeError("espeak-ng could not be initialized")
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        _lib = lib
    return _lib


def synthesize(text: str, voice: str = "en", rate: int = 160, pitch: int = 50) -> tuple[np.ndarray, int, list[Phone]]:
    """Speak ``text``; returns (int16 samples, sample rate, phones with start/end seconds)."""
    lib = _library()
    chunks: list[np.ndarray] = []
    events: list[tuple[str, int]] = []

    def on_audio(wav, count, event_ptr):
        if count > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while event_ptr[i].type != 0:
            ev = event_ptr[i]
            if ev.type == _EVENT_PHONEME:
                name = bytes(ev.id.string).split(b"\0", 1)[0].decode("ascii", "replace")
                events.append((name, ev.audio_position))
            i += 1
        return 0

    callback = _CALLBACK(on_audio)
    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise ValueError(f"unknown espeak-ng voice {voice!r}")
    lib.espeak_SetParameter(_RATE, int(rate), 0)
    lib.espeak_SetParameter(_PITCH, int(pitch), 0)
    data = text.encode("utf-8") + b"\0"
    lib.espeak_Synth(data, len(data), 0, 1, 0, 0, None, None)
    lib.espeak_Synchronize()
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    total = len(samples) / _rate
    phones = []
    for k, (name, ms) in enumerate(events):
        end = events[k + 1][1] / 1000.0 if k + 1 < len(events) else total
        if name:
            phones.append(Phone(name, ms / 1000.0, max(ms / 1000.0, end)))
    return samples, _rate, phones


BILABIALS = ("p", "b", "m")


def openness(name: str) -> float:
    """How open the mouth is for an espeak-ng phoneme (0 closed … 1 widest)."""
    n = name.strip(";:'%=,")
    if not n or n == "_":
        return 0.0
    if n[0] in BILABIALS:
        return 0.0
    if n[0] in "aA":
        return 1.0
    if n[0] in "EVO0" or n.startswith("3") or n.startswith("@"):
        return 0.65 if n[0] != "@" else 0.45
    if n[0] in "eI":
        return 0.45
    if n[0] in "oU":
        return 0.4
    if n[0] in "iu":
        return 0.25
    if n[0] in "fv":
        return 0.1
    if n[0] in "wjr":
        return 0.2
    if n[0] in "hl":
        return 0.3
    return 0.15  # other consonants: teeth nearly together
