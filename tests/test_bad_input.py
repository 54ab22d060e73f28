"""The bad-input contract, as a table: every sub-command of the CLI and the worker, fed bad input.

The CLI must answer with exit status 2, exactly one line on stderr, no traceback, nothing written and an
existing output left as it was. The worker must answer every request line with exactly one result or error
event and stay alive and answering, whatever arrives on its stdin.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from engine.client import WorkerProcess

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "examples" / "portrait.png"
POSE_HEADER = {"format": "posetalk.pose/1", "fps": 25.0, "channels": ["pitch", "yaw", "roll", "x", "y", "scale"]}


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory, speech_wav: Path) -> dict[str, str]:
    """Bad (and a few good) input files, made once."""
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    files = {"speech": str(speech_wav), "portrait": str(PORTRAIT), "dir": str(d)}

    def put(name: str, data: bytes | str) -> None:
        path = d / name
        path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
        files[name] = str(path)

    put("empty.wav", b"")
    put("random.wav", rng.integers(0, 256, 40000, dtype=np.uint8).tobytes())
    put("random.mp3", rng.integers(0, 256, 40000, dtype=np.uint8).tobytes())
    put("text.mp3", "this is not audio\n" * 200)
    put("text.png", "this is not an image\n" * 50)
    put("bad.json", "{not json")
    put("wrong_format.json", json.dumps({"format": "something/1", "fps": 25, "frames": []}))
    put("pose.json", json.dumps({**POSE_HEADER, "frames": [[0, 0, 0, 0, 0, 1]] * 10}))
    put("pose_nan.json", json.dumps({**POSE_HEADER, "frames": [[0, 0, 0, 0, 0, 1], [0, "x", 0, 0, 0, 1]]}))
    put("pins_30fps.json", json.dumps({**POSE_HEADER, "fps": 30.0, "frames": [None] * 10}))
    put("file_not_folder", "a file where a folder is expected")
    sf.write(d / "silent.wav", np.zeros(5 * 16000, np.float32), 16000)
    sf.write(d / "nan.wav", np.full(3 * 16000, np.nan, np.float32), 16000, subtype="FLOAT")
    sf.write(d / "short.wav", (0.3 * np.sin(np.arange(800) / 3)).astype(np.float32), 16000)
    files.update({k: str(d / k) for k in ("silent.wav", "nan.wav", "short.wav")})
    Image.new("RGB", (320, 320), (128, 128, 128)).save(d / "noface.png")
    img = Image.open(PORTRAIT).convert("RGB")
    two = Image.new("RGB", (img.width * 2, img.height))
    two.paste(img, (0, 0))
    two.paste(img, (img.width, 0))
    two.save(d / "twofaces.png")
    files.update({"noface.png": str(d / "noface.png"), "twofaces.png": str(d / "twofaces.png")})
    return files


def _cases() -> list[tuple[str, str, list[str], str]]:
    """(case id, command, args with {file} placeholders, expected fragment of the one stderr line)."""
    pose = ["--prompt", "nods"]
    audio = ["--audio", "{speech}"]
    render = ["--image", "{portrait}", "--pose", "{pose.json}"]
    animate = ["--image", "{portrait}", "--audio", "{speech}", "--prompt", "nods"]
    return [
        # pose
        ("pose-missing-audio", "pose", ["--audio", "{dir}/nope.wav", *pose], "audio file not found"),
        ("pose-audio-is-folder", "pose", ["--audio", "{dir}", *pose], "is a folder"),
        ("pose-empty-audio", "pose", ["--audio", "{empty.wav}", *pose], "empty (0 bytes)"),
        ("pose-random-bytes", "pose", ["--audio", "{random.wav}", *pose], "not an audio file"),
        ("pose-text-as-mp3", "pose", ["--audio", "{text.mp3}", *pose], "not an audio file"),
        ("pose-silent", "pose", ["--audio", "{silent.wav}", *pose], "no speech in the audio"),
        ("pose-all-nan", "pose", ["--audio", "{nan.wav}", *pose], "no speech in the audio"),
        ("pose-too-short", "pose", ["--audio", "{short.wav}", *pose], "only 0.05 s long"),
        ("pose-empty-prompt", "pose", [*audio, "--prompt", "   "], "the prompt is empty"),
        ("pose-huge-prompt", "pose", [*audio, "--prompt", "nod " * 300], "the limit is 1000"),
        ("pose-fps-zero", "pose", [*audio, *pose, "--fps", "0"], "fps must be between 1 and 240"),
        ("pose-fps-text", "pose", [*audio, *pose, "--fps", "fast"], "invalid float value"),
        ("pose-seed-negative", "pose", [*audio, *pose, "--seed", "-3"], "seed must be between"),
        ("pose-backend", "pose", [*audio, *pose, "--backend", "magic"], "invalid choice"),
        ("pose-guidance", "pose", [*audio, *pose, "--guidance", "99"], "guidance must be between 0 and 20"),
        ("pose-offset-past-end", "pose", [*audio, *pose, "--audio-offset", "500"], "past the end"),
        ("pose-pins-not-json", "pose", [*audio, *pose, "--pins", "{bad.json}"], "not valid JSON"),
        ("pose-pins-other-fps", "pose", [*audio, *pose, "--pins", "{pins_30fps.json}"], "pins are at 30 fps"),
        ("pose-out-folder-missing", "pose", [*audio, *pose], "output folder does not exist", "{dir}/no/p.json"),
        ("pose-out-parent-file", "pose", [*audio, *pose], "is a file, not a folder", "{file_not_folder}/p.json"),
        ("pose-out-is-folder", "pose", [*audio, *pose], "output path is a folder", "{dir}"),
        ("pose-out-unwritable", "pose", [*audio, *pose], "not writable", "/proc/pose.json"),
        # lips: the same audio rule as pose
        ("lips-missing-audio", "lips", ["--audio", "{dir}/nope.wav"], "audio file not found"),
        ("lips-random-bytes", "lips", ["--audio", "{random.mp3}"], "not an audio file"),
        ("lips-silent", "lips", ["--audio", "{silent.wav}"], "no speech in the audio"),
        ("lips-all-nan", "lips", ["--audio", "{nan.wav}"], "no speech in the audio"),
        ("lips-too-short", "lips", ["--audio", "{short.wav}"], "only 0.05 s long"),
        ("lips-strength", "lips", [*audio, "--strength", "7"], "strength must be between 0 and 3"),
        ("lips-out-parent-file", "lips", audio, "is a file, not a folder", "{file_not_folder}/l.json"),
        # render
        ("render-missing-image", "render", ["--image", "{dir}/nope.png", "--pose", "{pose.json}"], "not found"),
        ("render-text-as-png", "render", ["--image", "{text.png}", "--pose", "{pose.json}"], "cannot read image"),
        ("render-no-face", "render", ["--image", "{noface.png}", "--pose", "{pose.json}"], "no face found"),
        ("render-two-faces", "render", ["--image", "{twofaces.png}", "--pose", "{pose.json}"], "--face N"),
        ("render-pose-wrong-format", "render", ["--image", "{portrait}", "--pose", "{wrong_format.json}"], "pose"),
        ("render-pose-non-numeric", "render", ["--image", "{portrait}", "--pose", "{pose_nan.json}"], "non-numeric"),
        ("render-size", "render", [*render, "--size", "9"], "size must be between 64 and 4096"),
        ("render-video-not-mp4", "render", [*render, "--video", "{dir}/x.avi"], "must be an .mp4"),
        (
            "render-corrupt-audio",
            "render",
            [*render, "--audio", "{random.mp3}", "--video", "{dir}/v.mp4"],
            "not an audio",
        ),
        ("render-text-audio", "render", [*render, "--audio", "{text.mp3}", "--video", "{dir}/v.mp4"], "not an audio"),
        ("render-out-parent-file", "render", render, "is a file, not a folder", "{file_not_folder}/frames"),
        # animate: every input checked before any heavy work
        ("animate-no-face", "animate", ["--image", "{noface.png}", "--audio", "{speech}", "--prompt", "n"], "no face"),
        (
            "animate-corrupt-audio",
            "animate",
            ["--image", "{portrait}", "--audio", "{random.mp3}", "--prompt", "n"],
            "not an audio file",
        ),  # fmt: skip
        ("animate-silent", "animate", ["--image", "{portrait}", "--audio", "{silent.wav}", "--prompt", "n"], "silent"),
        (
            "animate-empty-prompt",
            "animate",
            ["--image", "{portrait}", "--audio", "{speech}", "--prompt", ""],
            "the prompt is empty",
        ),  # fmt: skip
        ("animate-not-mp4", "animate", animate, "must be an .mp4", "{dir}/out.avi"),
    ]


CASES = _cases()
DEFAULT_OUT = {"pose": "{dir}/out/pose.json", "lips": "{dir}/out/lips.json", "render": "{dir}/out/frames",
               "animate": "{dir}/out/talk.mp4"}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_cli_bad_input(run_engine, bad, case):
    name, command, args, expect, *out = case
    fill = lambda a: re.sub(r"\{([^}]+)\}", lambda m: bad[m.group(1)], a)  # noqa: E731
    out_dir = Path(bad["dir"]) / "out"
    out_dir.mkdir(exist_ok=True)
    existing = out_dir / "keep.json"
    existing.write_text("an existing output")
    before = sorted(os.listdir(bad["dir"])), sorted(os.listdir(out_dir))
    t0 = time.monotonic()
    proc = run_engine(command, *[fill(a) for a in args], "--out", fill(out[0] if out else DEFAULT_OUT[command]))
    took = time.monotonic() - t0
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (name, proc.stderr[-3000:])
    assert len(lines) == 1 and expect in lines[0], (name, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert (sorted(os.listdir(bad["dir"])), sorted(os.listdir(out_dir))) == before, name  # nothing written
    assert existing.read_text() == "an existing output"
    if command == "animate":
        assert took < 60, f"{name}: refused only after {took:.0f} s (checked after heavy work?)"


def test_cli_clobbers_no_existing_output_on_bad_input(run_engine, bad, tmp_path):
    out = tmp_path / "pose.json"
    out.write_text("previous result")
    proc = run_engine("pose", "--audio", bad["silent.wav"], "--prompt", "nods", "--out", str(out))
    assert proc.returncode == 2 and out.read_text() == "previous result"


# ------------------------------------------------------------------------------------------------ the worker
@pytest.fixture(scope="module")
def worker():
    w = WorkerProcess()
    yield w
    w.close()


WORKER_CASES = [
    ("not json", "{nope", None, "bad_request"),
    ("json but a list", "[1, 2]", None, "bad_request"),
    ("no id", {"op": "pose", "params": {}}, None, "bad_request"),
    ("unknown op", {"id": "u1", "op": "explode"}, "u1", "bad_request"),
    ("op missing", {"id": "u2"}, "u2", "bad_request"),
    ("id an object", {"id": {"a": 1}, "op": "ping"}, None, "bad_request"),
    ("params not an object", {"id": "p1", "op": "pose", "params": [1, 2]}, "p1", "bad_input"),
    ("unknown param", {"id": "p2", "op": "lips", "params": {"audio": "a.wav", "volume": 11}}, "p2", "bad_input"),
    ("missing audio", {"id": "p3", "op": "lips", "params": {}}, "p3", "bad_input"),
    ("cancel no id", {"op": "cancel"}, None, "bad_request"),
    ("cancel unknown id", {"op": "cancel", "id": "unknown"}, "unknown", "bad_request"),
]


@pytest.mark.parametrize("case", WORKER_CASES, ids=[c[0] for c in WORKER_CASES])
def test_worker_answers_every_bad_request_once_and_lives(worker, case):
    _name, request, job_id, code = case
    worker.send(request)
    (answer,) = worker.answers(1)
    assert answer["event"] == "error" and answer["id"] == job_id and answer["code"] == code, answer
    assert answer["message"] and "\n" not in answer["message"]
    worker.alive_and_answering()


def test_worker_duplicate_id_and_huge_line(worker, speech_wav):
    worker.send({"id": "dup", "op": "lips", "params": {"audio": str(speech_wav)}})
    worker.send({"id": "dup", "op": "lips", "params": {"audio": str(speech_wav)}})
    answers = worker.answers(2, timeout=120)
    assert sorted(a["event"] for a in answers) == ["error", "result"]
    assert next(a for a in answers if a["event"] == "error")["message"].startswith("id already in use")
    worker.send("x" * (1 << 20))  # a long line of garbage: refused as not JSON, the reader goes on
    assert worker.answers(1)[0]["code"] == "bad_request"
    worker.alive_and_answering()


def test_cancel_races_get_one_answer_each(worker, speech_wav):
    """A cancel right after the request, and a cancel after the job ended: every request answered once."""
    worker.send({"id": "race", "op": "lips", "params": {"audio": str(speech_wav)}})
    worker.send({"op": "cancel", "id": "race"})
    (first,) = worker.answers(1)
    assert first["id"] == "race" and first["event"] in ("error", "result")
    worker.send({"op": "cancel", "id": "race"})  # the job is over: the cancel itself is answered
    (late,) = worker.answers(1)
    assert late["id"] == "race" and late["code"] == "bad_request" and "no queued or running job" in late["message"]
    worker.alive_and_answering()


def test_stdin_closed_mid_job_ends_the_worker_quickly(speech_wav, sox_convert):
    long = sox_convert(speech_wav, "long3min.wav", effects=("repeat", "25"))
    w = WorkerProcess()
    try:
        w.send({"id": "long", "op": "lips", "params": {"audio": str(long)}})
        while w.next()["event"] != "progress":
            pass
        t0 = time.monotonic()
        w.proc.stdin.close()
        assert w.proc.wait(timeout=30) == 0
        assert time.monotonic() - t0 < 10
    finally:
        w.close()


def test_killed_ffmpeg_child_is_one_error_and_the_worker_lives(worker, bad, tmp_path):
    """The encoder dying under the job (here: killed from outside) is an engine error, not a hang or a crash."""
    pose = {**POSE_HEADER, "frames": [[0, 0, 0, 0, 0, 1]] * 750}
    out, video = tmp_path / "frames", tmp_path / "v.mp4"
    worker.send({"id": "enc", "op": "render", "params": {"image": bad["portrait"], "pose": pose, "size": 128,
                                                        "out": str(out), "video": str(video)}})  # fmt: skip
    killed = False
    deadline = time.monotonic() + 300
    while not killed and time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-f", f"ffmpeg.*{tmp_path.name}"], capture_output=True, text=True)
        for pid in found.stdout.split():
            os.kill(int(pid), signal.SIGKILL)
            killed = True
        time.sleep(0.05)
    (answer,) = worker.answers(1, timeout=300)
    assert killed and answer["event"] == "error" and answer["code"] == "engine_error", answer
    assert "ffmpeg" in answer["message"] and not video.exists() and not out.exists()
    worker.alive_and_answering()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
REQUESTS = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(min_size=1, max_size=8), st.integers(0, 99), JSON),
        "op": st.one_of(st.sampled_from(["pose", "lips", "render", "animate", "cancel", "ping", "schema"]), JSON),
        "params": JSON,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=st.one_of(REQUESTS, JSON))
def test_worker_request_parser_any_json(worker, request):
    """Any JSON value as a request: exactly one answer, and the worker lives on."""
    worker.send(json.dumps(request))  # as JSON text: a Python string is a JSON string here, not a raw line
    (answer,) = worker.answers(1, timeout=120)
    assert answer["event"] in ("result", "error")
    if answer["event"] == "error":
        assert answer["code"] in ("bad_request", "bad_input", "cancelled") and "\n" not in answer["message"]
