"""The JSON-lines worker as a real subprocess: events, errors, cancel, robustness."""

from __future__ import annotations

import json

import pytest

from engine.client import WorkerProcess


@pytest.fixture
def worker():
    w = WorkerProcess()
    assert "pose" in w.ready["ops"] and "procedural" in w.ready["backends"]
    yield w
    if w.proc.poll() is None:
        w.proc.kill()


def test_pose_job_streams_progress_then_result(worker, speech_wav, tmp_path):
    out = tmp_path / "p.json"
    worker.send({"id": "j1", "op": "pose", "params": {"audio": str(speech_wav), "prompt": "nods", "out": str(out)}})
    events = worker.until_done("j1")
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and all(0 <= e["done"] <= e["total"] for e in progress)
    result = events[-1]
    assert result["event"] == "result" and result["path"] == str(out)
    assert result["pose"]["format"] == "posetalk.pose/1" and result["n_frames"] == len(result["pose"]["frames"])
    assert json.loads(out.read_text()) == result["pose"]
    assert worker.close() == 0
    assert all(json.loads(line) for line in worker.raw)  # stdout carries protocol lines only


def test_errors_are_structured_and_the_worker_survives(worker, tmp_path):
    worker.send({"id": "bad", "op": "pose", "params": {"audio": str(tmp_path / "x.wav"), "prompt": "nods"}})
    err = worker.until_done("bad")[-1]
    assert err == {"id": "bad", "event": "error", "code": "bad_input", "message": err["message"]}
    assert "not found" in err["message"]
    worker.send("this is not json")
    ev = worker.events.get(timeout=30)
    assert ev["event"] == "error" and ev["code"] == "bad_request"
    worker.send({"id": "u", "op": "explode"})
    assert worker.until_done("u")[-1]["code"] == "bad_request"
    worker.send({"id": "p", "op": "ping"})
    assert worker.until_done("p")[-1]["version"]


def test_cancel_running_and_queued_jobs(worker, speech_wav, sox_convert):
    long = sox_convert(speech_wav, "long5min.wav", effects=("repeat", "45"))
    worker.send({"id": "long", "op": "pose", "params": {"audio": str(long), "prompt": "talking"}})
    worker.send({"id": "queued", "op": "pose", "params": {"audio": str(long), "prompt": "talking"}})
    worker.send({"op": "cancel", "id": "queued"})
    worker.send({"op": "cancel", "id": "long"})
    assert worker.until_done("long")[-1]["code"] == "cancelled"
    assert worker.until_done("queued")[-1]["code"] == "cancelled"
    worker.send({"id": "after", "op": "pose", "params": {"audio": str(speech_wav), "prompt": "nods"}})
    assert worker.until_done("after")[-1]["event"] == "result"


def test_end_of_stdin_stops_the_worker(worker):
    worker.proc.stdin.close()
    assert worker.proc.wait(timeout=30) == 0


def test_lips_job_with_a_transcript(worker, espeak):
    line = "Mon petit bateau bleu passe sous le pont, mais maman préfère la mer."
    wav = espeak(line, voice="fr+f2", rate=135)
    worker.send({"id": "s", "op": "schema"})
    names = [p["name"] for p in worker.until_done("s")[-1]["ops"]["lips"]]
    assert "text" in names and "language" in names
    worker.send({"id": "t", "op": "lips", "params": {"audio": str(wav), "text": line, "language": "fr"}})
    result = worker.until_done("t")[-1]
    assert result["event"] == "result" and "warning" not in result
    assert result["lips"]["meta"]["phones"] == "transcript" and result["lips"]["meta"]["alignment"] == "good"
    wrong = "Das Wetter ist heute warm und hell, aber morgen regnet es im Tal."
    worker.send({"id": "w", "op": "lips", "params": {"audio": str(wav), "text": wrong, "language": "de"}})
    result = worker.until_done("w")[-1]
    assert result["event"] == "result" and "does not match" in result["warning"]
    assert result["lips"]["meta"]["alignment"] == "poor"
    worker.send({"id": "x", "op": "lips", "params": {"audio": str(wav), "text": line, "language": "zz"}})
    error = worker.until_done("x")[-1]
    assert error["code"] == "bad_input" and "espeak-ng --voices" in error["message"]
