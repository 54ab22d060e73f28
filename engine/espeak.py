"""espeak-ng through its C library: speech with exact phone timings (IPA) for any of its languages.

espeak-ng reports every phoneme it synthesizes as an event with its position in the audio
(``espeakINITIALIZE_PHONEME_EVENTS``), in IPA (``espeakINITIALIZE_PHONEME_IPA``). The transcript aligner (engine.transcript) synthesizes the dialogue with it and
aligns that speech to the real recording; the evaluation scripts use it as one of their synthesizers.
The library keeps global state, so every call holds one lock (and speaks in a forked child: synthesize).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from dataclasses import dataclass

import numpy as np

from .errors import BadInput, EngineError

DEFAULT_RATE = 175  # words per minute, espeak-ng's own default
MIN_RATE, MAX_RATE = 80, 450
LANGUAGE_HINT = "see the codes with `espeak-ng --voices`"

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_EVENT_PHONEME = 7
_BAD_VOICE = 3  # the speaking child's exit status when espeak-ng refuses the voice
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
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


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # [priority byte][name]\0 ... \0: not a C string
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass
class Phone:
    """One phone of synthesized speech: IPA (e.g. ``p``, ``aɪ``, ``ɔ̃``; ``_`` for a pause) and its time in s."""

    name: str
    start: float
    end: float


@dataclass
class Speech:
    """Synthesized speech: int16 samples at ``sample_rate`` and its phones."""

    samples: np.ndarray
    sample_rate: int
    phones: list[Phone]

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


_lock = threading.RLock()
_lib = None
_sample_rate = 0
_languages: dict[str, str] | None = None  # language code or voice name → the voice's file name


def _library():
    global _lib, _sample_rate
    if _lib is None:
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            raise EngineError("espeak-ng is not installed (make setup installs it)") from None
        lib.espeak_Initialize.restype = ctypes.c_int
        _sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA
        )
        if _sample_rate <= 0:
            raise EngineError("espeak-ng could not be initialized")
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        _lib = lib
    return _lib


def languages() -> dict[str, str]:
    """Every language code and voice name espeak-ng knows (lower case, e.g. ``en``, ``en-us``, ``fr-fr``, ``cs``),
    each with the name of the voice that speaks it best (the one to give ``synthesize``)."""
    global _languages
    with _lock:
        if _languages is None:
            lib = _library()
            found: dict[str, tuple[int, str]] = {}
            voices = lib.espeak_ListVoices(None)
            k = 0
            while voices[k]:
                voice = voices[k].contents
                name = (voice.identifier or b"").decode("ascii", "replace").rsplit("/", 1)[-1].lower()
                raw = ctypes.string_at(voice.languages, 256) if voice.languages else b""
                i = 0
                while name and i < len(raw) and raw[i] != 0:  # [priority byte][code]\0 ... \0
                    end = raw.index(b"\0", i + 1)
                    code, priority = raw[i + 1 : end].decode("ascii", "replace").lower(), raw[i]
                    if code not in found or priority < found[code][0]:
                        found[code] = (priority, name)
                    i = end + 1
                if name:
                    found.setdefault(name, (0, name))
                k += 1
            _languages = {code: voice for code, (_priority, voice) in found.items()}
        return _languages


def check_language(code: str) -> str:
    """``code`` as espeak-ng spells it (lower case, ``_`` as ``-``); BadInput when espeak-ng does not speak it."""
    norm = (code or "").strip().lower().replace("_", "-")
    if norm not in languages() or "+" in norm:
        raise BadInput(f"unknown language {code!r}: {LANGUAGE_HINT}")
    return norm


def _set_voice(lib, language: str) -> None:
    """Select the voice for ``language`` (a code or voice name, optionally with a variant: ``fr-fr+f3``)."""
    code, _, variant = language.partition("+")
    voice = languages().get(code.strip().lower().replace("_", "-"))
    if voice is None or lib.espeak_SetVoiceByName((voice + ("+" + variant if variant else "")).encode()) != 0:
        raise BadInput(f"unknown language {code!r}: {LANGUAGE_HINT}")


def synthesize(text: str, language: str = "en", rate: int = DEFAULT_RATE, pitch: int = 50) -> Speech:
    """Speak ``text`` in ``language`` (an espeak-ng language code or voice name, with an optional variant
    such as ``en+f3``) at ``rate`` words per minute.

    The library carries state from one utterance to the next (its pitch flutter), so the same call could
    give a few samples more or less each time. Where the system can fork, each call therefore speaks in a
    forked child of a process that never spoke nor chose a voice: the same text always gives the same speech
    and the same phone events. (Choosing a voice queues an event; in a process that never speaks they pile up,
    and a child that inherits a full queue loses the first phones of its utterance.)
    """
    code = language.partition("+")[0]
    check_language(code)  # a bad language is BadInput here, in this process (the child chooses the voice)
    with _lock:
        lib = _library()
        if not hasattr(os, "fork"):
            return _speak(lib, text, language, rate, pitch)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: speak, send, leave without running any of the parent's clean-up
            status = 0
            try:
                speech = _speak(lib, text, language, rate, pitch)
                names = "\n".join(p.name for p in speech.phones).encode("utf-8")
                times = np.array([[p.start, p.end] for p in speech.phones], np.float64).tobytes()
                header = np.array([len(speech.samples), len(names), len(times)], np.int64).tobytes()
                with os.fdopen(write_end, "wb") as pipe:
                    pipe.write(header + speech.samples.astype(np.int16).tobytes() + names + times)
            except BadInput:
                status = _BAD_VOICE
            except BaseException:
                status = 1
            finally:
                os._exit(status)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _pid, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == _BAD_VOICE:  # a variant espeak-ng does not have
            raise BadInput(f"unknown language {code!r}: {LANGUAGE_HINT}")
        if status != 0 or len(data) < 24:
            raise EngineError("espeak-ng failed to speak the text")
        n_samples, n_names, _n_times = np.frombuffer(data[:24], np.int64)
        samples = np.frombuffer(data[24 : 24 + 2 * n_samples], np.int16).copy()
        rest = data[24 + 2 * n_samples :]
        names = rest[:n_names].decode("utf-8").split("\n") if n_names else []
        times = np.frombuffer(rest[n_names:], np.float64).reshape(-1, 2)
        return Speech(samples, _sample_rate, [Phone(n, float(a), float(b)) for n, (a, b) in zip(names, times)])


def _speak(lib, text: str, language: str, rate: int, pitch: int) -> Speech:
    """Synthesize in this process (the caller holds the lock)."""
    chunks: list[np.ndarray] = []
    phone_events: list[tuple[str, int]] = []

    def on_audio(wav, count, event_ptr):
        if count > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while event_ptr[i].type != 0:
            ev = event_ptr[i]
            if ev.type == _EVENT_PHONEME:
                name = bytes(ev.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
                phone_events.append((name, ev.audio_position))
            i += 1
        return 0

    data = text.encode("utf-8") + b"\0"
    callback = _CALLBACK(on_audio)
    lib.espeak_SetSynthCallback(callback)
    _set_voice(lib, language)
    lib.espeak_SetParameter(_RATE, int(np.clip(rate, MIN_RATE, MAX_RATE)), 0)
    lib.espeak_SetParameter(_PITCH, int(pitch), 0)
    lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    total = len(samples) / _sample_rate
    phones = []
    for k, (name, ms) in enumerate(phone_events):
        end = phone_events[k + 1][1] / 1000.0 if k + 1 < len(phone_events) else total
        if name:
            phones.append(Phone(name, ms / 1000.0, max(ms / 1000.0, min(end, total))))
    return Speech(samples, _sample_rate, phones)
