"""Lip sync from the transcript on real speech: flite English and espeak-ng French, the IPA feature table,
mismatched transcripts, bad languages, the CLI's --text/--text-file and the worker op."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine import espeak
from engine.errors import BadInput
from engine.ipa import features, shape
from engine.jobs import Job, run_op
from engine.lips import generate_lips
from engine.transcript import align_transcript

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from reference_speech import espeak_clip, flite_clip, is_bilabial, openness  # noqa: E402

ENGLISH = "Papa bought a big blue map. My mother may bring bread and butter before the movie."
FRENCH = "Mon petit bateau bleu passe sous le pont, mais maman préfère la mer."
OTHER_ENGLISH = "The weather today is warm and bright, but tomorrow there might be rain in the valley."


@pytest.fixture(scope="module")
def english():
    """flite's voice (not the aligner's espeak-ng), with flite's own phone timings."""
    return flite_clip(ENGLISH, "slt")


@pytest.fixture(scope="module")
def french():
    """A French line by espeak-ng in another voice and at another rate than the aligner speaks it."""
    return espeak_clip(FRENCH, "fr+f2", 135)


@pytest.fixture
def wav(tmp_path):
    def write(clip, name: str = "line.wav") -> Path:
        path = tmp_path / name
        sf.write(str(path), clip[0], 16000)
        return path

    return write


def _shapes_follow_the_phones(clip, text: str, language: str) -> np.ndarray:
    audio, duration, phones = clip
    alignment = align_transcript(audio, duration, text, language)
    assert alignment.good, (alignment.mean_ratio, alignment.poor_share)
    frames = generate_lips(audio, duration, 100.0, phones=alignment.phones)[0]
    ref = np.zeros(len(frames))
    for p in phones:
        ref[int(p.start * 100) : int(p.end * 100)] = openness(p.name)
    assert np.corrcoef(frames[:, 0], ref)[0, 1] > 0.6
    bilabials = [p for p in phones if is_bilabial(p.name)]
    closed = [frames[int(p.start * 100) : int(p.end * 100) + 1, 3].max() > 0.5 for p in bilabials]
    assert len(bilabials) >= 8 and np.mean(closed) >= 0.85
    vowels = [p for p in phones if openness(p.name) >= 0.65]
    opened = [frames[int(p.start * 100) : int(p.end * 100) + 1, 0].max() > 0.3 for p in vowels]
    assert len(vowels) >= 5 and np.mean(opened) >= 0.8
    return frames


def test_english_with_its_transcript(english):
    _shapes_follow_the_phones(english, ENGLISH, "en")


def test_french_with_its_transcript(french):
    frames = _shapes_follow_the_phones(french, FRENCH, "fr")
    # rounded French vowels (o, u, ø, ɔ̃) round the lips, more than the spread ones (i, e, ɛ) do
    _audio, _duration, phones = french
    rounded = [p for p in phones if features(p.name).rounded]
    spread = [p for p in phones if features(p.name).kind == "vowel" and not features(p.name).rounded]
    roundness = [frames[int(p.start * 100) : int(p.end * 100) + 1, 2].mean() for p in rounded]
    spreadness = [frames[int(p.start * 100) : int(p.end * 100) + 1, 2].mean() for p in spread]
    assert np.mean(roundness) > np.mean(spreadness) + 0.15


def test_ipa_features_make_the_shapes():
    assert shape("p").viseme == "A" and shape("m").closed == 1.0 and shape("b").open == 0.0
    assert shape("f").viseme == "G" and shape("v").viseme == "G"
    assert shape("l").viseme == "H" and shape("w").viseme == "F"
    assert shape("a").viseme == "D" and shape("ɑː").viseme == "D" and shape("aɪ").viseme == "D"
    assert shape("u").viseme == "F" and shape("o").round > 0.7 and shape("y").round > 0.7  # French u
    assert shape("ɔ̃").viseme == "E" and shape("i").viseme == "B" and shape("ɛ").viseme == "C"
    assert shape("tʃ").round > 0 and shape("_").viseme == "X" and shape("").viseme == "X"
    assert shape("a").open > shape("ɛ").open > shape("e").open > shape("i").open


def test_a_transcript_that_does_not_match_is_flagged_and_the_audio_alone_leads(english, wav):
    path = wav(english)
    audio_only = run_op("lips", {"audio": str(path), "fps": 25}, Job())
    for text, language in [(OTHER_ENGLISH, "en"), (FRENCH, "fr")]:
        result = run_op("lips", {"audio": str(path), "fps": 25, "text": text, "language": language}, Job())
        assert "does not match" in result["warning"]
        meta = result["lips"]["meta"]
        assert meta["alignment"] == "poor" and meta["phones"].startswith("recognized")
        assert result["lips"]["frames"] == audio_only["lips"]["frames"]
        assert result["lips"]["visemes"] == audio_only["lips"]["visemes"]


def test_the_op_with_a_transcript(french, wav):
    path = wav(french)
    result = run_op("lips", {"audio": str(path), "text": FRENCH, "language": "fr"}, Job())
    meta = result["lips"]["meta"]
    assert "warning" not in result
    assert meta["alignment"] == "good" and meta["phones"] == "transcript" and meta["language"] == "fr"
    without = run_op("lips", {"audio": str(path), "language": "fr"}, Job())["lips"]["meta"]
    assert without["phones"].startswith("recognized") and "fr speech is lip-synced from the sound" in without["note"]
    assert "note" not in run_op("lips", {"audio": str(path)}, Job())["lips"]["meta"]


def test_unknown_language(french, wav, run_engine, tmp_path):
    with pytest.raises(BadInput, match=r"unknown language 'xx-yy': see the codes with `espeak-ng --voices`"):
        run_op("lips", {"audio": str(wav(french)), "text": FRENCH, "language": "xx-yy"}, Job())
    out = tmp_path / "l.json"
    proc = run_engine(
        "lips", "--audio", str(wav(french)), "--text", "Bonjour", "--language", "klingon", "--out", str(out)
    )
    assert proc.returncode == 2 and "espeak-ng --voices" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()
    assert espeak.check_language("FR_fr") == "fr-fr" and {"en", "de", "es", "fr", "cs"} <= set(espeak.languages())
    video = tmp_path / "talk.mp4"  # animate refuses the language before any pose or render work
    portrait = str(Path(__file__).resolve().parents[1] / "examples" / "portrait.png")
    animate = {"image": portrait, "audio": str(wav(french)), "prompt": "nods", "out": str(video)}
    with pytest.raises(BadInput, match="unknown language 'xx'"):
        run_op("animate", {**animate, "text": FRENCH, "language": "xx"}, Job())
    assert not video.exists()


def test_text_and_text_file(french, wav, run_engine, tmp_path):
    path = wav(french)
    text_file = tmp_path / "line.txt"
    text_file.write_text(FRENCH + "\n", encoding="utf-8")
    out = tmp_path / "l.json"
    both = run_engine("lips", "--audio", str(path), "--text", FRENCH, "--text-file", str(text_file), "--out", str(out))
    assert both.returncode == 2 and "not both" in both.stderr and len(both.stderr.strip().splitlines()) == 1
    assert not out.exists()
    missing = run_engine("lips", "--audio", str(path), "--text-file", str(tmp_path / "no.txt"), "--out", str(out))
    assert missing.returncode == 2 and "text file not found" in missing.stderr and not out.exists()
    ok = run_engine(
        "-q", "lips", "--audio", str(path), "--text-file", str(text_file), "--language", "fr", "--out", str(out)
    )
    assert ok.returncode == 0, ok.stderr
    from_file = json.loads(out.read_text())
    direct = run_op("lips", {"audio": str(path), "text": FRENCH, "language": "fr"}, Job())["lips"]
    assert from_file == direct and from_file["meta"]["phones"] == "transcript"
    wrong = run_engine("-q", "lips", "--audio", str(path), "--text", OTHER_ENGLISH, "--out", str(out))
    assert wrong.returncode == 0 and wrong.stderr.startswith("warning: the transcript does not match")
    assert json.loads(out.read_text())["meta"]["alignment"] == "poor"


def test_espeak_gives_the_same_phones_however_many_voices_were_chosen_before():
    """Each utterance is spoken in a fresh fork; choosing voices in the parent queued events there, and after a few
    dozen calls a child inherited a full queue and lost the first phones of its line (the m of "Mon")."""
    first = espeak.synthesize(FRENCH, "fr", 143)
    for k in range(40):
        espeak.synthesize("Hello there.", ("en-us", "en-us+f3", "de", "fr+f2")[k % 4], 150 + k)
    again = espeak.synthesize(FRENCH, "fr", 143)
    assert [p.name for p in again.phones][:2] == ["m", "ɔ̃"]
    assert again.phones == first.phones and np.array_equal(again.samples, first.samples)
