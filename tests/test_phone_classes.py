"""The transcript aligner's phone classifier: its class table, the shipped weights, what it hears in a voice it was
never trained on (festival's), and the aligner with and without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import phone_classes, transcript
from engine.audio import ANALYSIS_RATE, compute_features
from engine.errors import BadInput
from engine.phone_classes import CLASSES, WEIGHTS, phone_class

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from reference_speech import festival_clip  # noqa: E402

LINE = "Papa bought a big blue map. My mother may bring bread and butter before the movie."
OTHER_LINES = (
    "The weather today is warm and bright, but tomorrow there might be rain in the valley.",
    "Maybe we could meet at the pub before the film begins, unless Bob objects to the plan.",
)


@pytest.fixture(scope="module")
def festival():
    """festival's kal voice: evaluation speech, never trained or tuned on, with festival's own phone times."""
    return festival_clip(LINE, "kal")


def test_classes_come_from_the_ipa_features() -> None:
    name = {phone: CLASSES[phone_class(phone)] for phone in ("p", "b", "m", "f", "v", "θ", "s", "ʃ", "tʃ", "k", "ŋ",
                                                             "l", "ɹ", "w", "h", "i", "ɛ", "a", "u", "ɔ", "_", "")}  # fmt: skip
    assert name["p"] == name["b"] == name["m"] == "bilabial" and name["f"] == name["v"] == "labiodental"
    assert name["θ"] == "dental" and name["s"] == "sibilant" and name["ʃ"] == name["tʃ"] == "postalveolar"
    assert name["k"] == "stop" and name["ŋ"] == "nasal" and name["l"] == "lateral" and name["ɹ"] == "rhotic"
    assert name["w"] == "glide" and name["h"] == "fricative" and name["_"] == name[""] == "pause"
    assert (name["i"], name["ɛ"], name["a"]) == ("close vowel", "open-mid vowel", "open vowel")
    assert (name["u"], name["ɔ"]) == ("close rounded vowel", "open rounded vowel")
    # a language's own letters map through the same features: Czech ř, French nasal vowels, German ü
    assert CLASSES[phone_class("r̝")] == "rhotic" and CLASSES[phone_class("ɔ̃")] == "open rounded vowel"
    assert CLASSES[phone_class("yː")] == "close rounded vowel"


def test_shipped_weights_are_small_safetensors_with_their_recipe() -> None:
    assert WEIGHTS.endswith(".safetensors") and os.path.getsize(WEIGHTS) < 20 * 2**20
    model = phone_classes.load()
    assert model.metadata["classes"] == list(CLASSES) and model.metadata["context"] == phone_classes.CONTEXT
    assert isinstance(model.metadata["seed"], int) and model.metadata["steps"] > 0


def test_it_hears_the_classes_in_a_voice_it_never_heard(festival) -> None:
    audio, duration, phones = festival
    x, speech = transcript.spectral_features(compute_features(audio, duration, ANALYSIS_RATE, pitch=False))
    posteriors = phone_classes.load()(x)
    assert posteriors.shape == (len(x), len(CLASSES)) and np.allclose(posteriors.sum(axis=1), 1.0, atol=1e-4)
    truth = np.zeros(len(x), int)
    for p in phones:
        truth[int(round(p.start * ANALYSIS_RATE)) : int(round(p.end * ANALYSIS_RATE))] = phone_class(p.name)
    spoken = speech & (truth > 0)
    accuracy = float((posteriors.argmax(axis=1) == truth)[spoken].mean())
    assert accuracy > 0.35, accuracy  # 19 classes: chance is about 0.1
    # the lips' two extremes: open vowels read open, bilabials read bilabial, far more than elsewhere
    bilabial, open_vowel = CLASSES.index("bilabial"), CLASSES.index("open vowel")
    assert (
        posteriors[truth == bilabial, bilabial].mean() > 3 * posteriors[spoken & (truth != bilabial), bilabial].mean()
    )
    assert (
        posteriors[truth == open_vowel, open_vowel].mean()
        > 3 * posteriors[spoken & (truth != open_vowel), open_vowel].mean()
    )


def test_the_aligner_places_the_phones_closer_with_the_classifier(festival, monkeypatch) -> None:
    """Mean distance from each phone's start in festival's own timing to the aligned start of the same phone (matched
    in order, a few phones ahead at most), over three lines, with the classifier's posteriors and without them."""
    lines = {LINE: festival} | {text: festival_clip(text, "kal") for text in OTHER_LINES}

    def boundary_error() -> float:
        errors = []
        for text, (audio, duration, phones) in lines.items():
            truth = [p for p in phones if p.name and p.name != "_"]
            aligned = transcript.align_transcript(audio, duration, text, "en-us")
            assert aligned.good
            found, k = 0, 0
            for seg in aligned.phones:
                for j in range(k, min(k + 3, len(truth))):
                    if phone_class(truth[j].name) == phone_class(seg.phone) and truth[j].name[:1] == seg.phone[:1]:
                        errors.append(abs(seg.start - truth[j].start))
                        found, k = found + 1, j + 1
                        break
            assert found > 0.6 * len(truth)
        return float(np.mean(errors))

    with_classes = boundary_error()
    monkeypatch.setattr(transcript, "CLASS_WEIGHT", 0.0)
    without = boundary_error()
    assert with_classes < 0.9 * without, (with_classes, without)  # measured: 27 ms against 38 ms


def test_missing_or_corrupt_weights_are_one_clear_error(tmp_path) -> None:
    with pytest.raises(BadInput, match="not found"):
        phone_classes.load(str(tmp_path / "none.safetensors"))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(os.urandom(300))
    with pytest.raises(BadInput, match="corrupt or not safetensors"):
        phone_classes.load(str(junk))


def test_one_seed_trains_the_same_weights(tmp_path) -> None:
    """Two tiny runs of the recipe (a few clips of every voice family, a few steps) with one seed."""
    from safetensors.numpy import load_file

    script = Path(__file__).resolve().parents[1] / "scripts" / "train_phone_classes.py"
    outs = []
    for k in range(2):
        out = tmp_path / f"w{k}.safetensors"
        args = ["--seed", "3", "--scale", "0.005", "--steps", "20", "--threads", "1", "--out", str(out)]
        proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append(load_file(str(out)))
    assert outs[0].keys() == outs[1].keys() and all(np.array_equal(outs[0][k], outs[1][k]) for k in outs[0])
    model = phone_classes.load(str(tmp_path / "w0.safetensors"))
    assert model.metadata["seed"] == 3 and model.metadata["steps"] == 20 and model.metadata["scale"] == 0.005
    assert model.layers[-1][0].shape[0] == len(CLASSES)
