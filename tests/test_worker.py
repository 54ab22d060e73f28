"""The JSON-lines worker as a real subprocess: events, errors, cancel, robustness."""

from __future__ import annotations

import gc
import json
import threading
import time

import pytest

from engine.client import ROOT, WorkerProcess
from engine.jobs import collection_paused

PORTRAIT = ROOT / "examples" / "portrait.png"
ONE_FRAME = {"format": "posetalk.pose/1", "fps": 25.0, "channels": ["pitch", "yaw", "roll", "x", "y", "scale"],
             "frames": [[0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]}  # fmt: skip


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
    answers = {a["id"]: a["code"] for a in worker.answers(2, timeout=120)}  # the queued one is answered at once
    assert answers == {"long": "cancelled", "queued": "cancelled"}
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


def test_cancel_while_the_models_load_is_answered_at_once(speech_wav, tmp_path):
    """A fresh worker's first diffusion job loads torch, the weights and the text encoder (seconds of native code
    without a cancellation point): a cancel then is answered at once, a second cancel is refused, and the next
    job runs on the models the cancelled one loaded."""
    w = WorkerProcess()
    try:
        w.send({"id": "torch", "op": "render", "params": {"image": str(PORTRAIT), "pose": ONE_FRAME, "size": 64,
                                                        "out": str(tmp_path / "frames")}})  # fmt: skip
        assert w.until_done("torch", timeout=300)[-1]["event"] == "result"  # torch imported, the pose model not yet
        params = {"audio": str(speech_wav), "prompt": "nods", "backend": "pld"}
        w.send({"id": "cold", "op": "pose", "params": params})
        while True:  # the audio's features are done (0.45 of the bar): the models load next
            event = w.next(120)
            if event.get("id") == "cold" and event["event"] == "progress" and event["done"] >= 450:
                break
        sent = time.perf_counter()
        w.send({"op": "cancel", "id": "cold"})
        (answer,) = w.answers(1, timeout=60)
        assert answer["id"] == "cold" and answer["code"] == "cancelled"
        assert w.answered_at["cold"] - sent < 1.0, "the cancel waited for the models"
        w.send({"op": "cancel", "id": "cold"})  # a repeated cancel is refused, once (loading or not)
        (again,) = w.answers(1, timeout=60)
        assert again["code"] == "bad_request"
        assert "already being cancelled" in again["message"] or "no queued or running job" in again["message"]
        w.send({"id": "next", "op": "pose", "params": params})
        events = w.until_done("next", timeout=300)
        assert events[-1]["event"] == "result" and events[-1]["backend"] == "pld"
        assert [e for e in events if e["event"] in ("result", "error")] == [events[-1]]  # the cancelled job is silent
        assert w.close() == 0
    finally:
        if w.proc.poll() is None:
            w.proc.kill()


def test_shutdown_answers_the_running_and_the_queued_job(worker, speech_wav, sox_convert):
    long = sox_convert(speech_wav, "long5min.wav", effects=("repeat", "45"))
    worker.send({"id": "long", "op": "lips", "params": {"audio": str(long)}})
    worker.send({"id": "queued", "op": "lips", "params": {"audio": str(long)}})
    while worker.next(120)["event"] != "progress":
        pass
    worker.send({"id": "bye", "op": "shutdown"})
    answers = {a["id"]: a.get("code", a["event"]) for a in worker.answers(3, timeout=60)}
    assert answers == {"bye": "result", "long": "cancelled", "queued": "cancelled"}
    assert worker.proc.wait(timeout=30) == 0


def test_collection_pauses_while_any_loading_block_runs_and_resumes_after_the_last():
    """Loading blocks on two threads overlap: automatic garbage collection stays off until both have ended, and a
    collector that was off before any block stays off."""
    assert gc.isenabled()
    inside, release = threading.Event(), threading.Event()

    def loader() -> None:
        with collection_paused():
            inside.set()
            release.wait(10)

    other = threading.Thread(target=loader)
    other.start()
    try:
        assert inside.wait(10)
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the other thread's block is still loading"
    finally:
        release.set()
        other.join(10)
    assert gc.isenabled()
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled(), "a collector turned off by the caller stays off"
    finally:
        gc.enable()
