"""Studio batch as a user runs it (``python -m engine batch``): the manifest's checks, the ledger's plan, and whole
runs with good and bad rows on the local pool and on a real two-node Ray cluster on 127.0.0.1, with the whole
run killed, and a worker killed mid-row. Real espeak-ng speech, the real portrait, the real engine."""

from __future__ import annotations

import json
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from ray_cluster import RayTestCluster, can_hide_folders, is_loopback, listening_addresses

from engine.batch.ledger import Ledger
from engine.batch.manifest import read_manifest
from engine.batch.runner import make_plan
from engine.batch.steps import DEFAULT_STEPS, outputs_of
from engine.errors import BadInput
from engine.formats import read_lips, read_pose
from engine.params import COMMANDS, Param
from engine.params import OPS as PARAMS

ROOT = Path(__file__).resolve().parents[1]

FPS = 25.0
RUN_TIMEOUT = 900.0  # one batch run on a busy 2-core machine (it takes a minute or two)
KILL_AFTER = 1.5  # seconds into a row when its worker is killed (models still loading: surely mid-row)
GOOD = ("l1", "l2", "l3")
BAD = {  # id → the engine's reason
    "missing": "image file not found",
    "silent": "no speech in the audio",
    "noface": "no face found in grey.png",
    "noprompt": "the prompt is empty",
}
ROWS = [  # id, image, audio, prompt (manifest order; relative paths)
    ("l1", "portrait.png", "a1.wav", "nods slowly"),
    ("missing", "nope.png", "a1.wav", "nods"),
    ("l2", "portrait.png", "a2.wav", "looks to the left"),
    ("silent", "portrait.png", "silent.wav", "nods"),
    ("noface", "grey.png", "a2.wav", "shakes head"),
    ("l3", "portrait.png", "a2.wav", "tilts head right, then nods"),
    ("noprompt", "portrait.png", "a1.wav", ""),
]
OUTPUTS = outputs_of(DEFAULT_STEPS)


# inputs ------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, espeak: Callable[..., Path]) -> Path:
    """Portrait, two lines of 2–3 s espeak-ng speech, silence and a faceless image."""
    folder = tmp_path_factory.mktemp("batch_inputs")
    shutil.copy(ROOT / "examples" / "portrait.png", folder / "portrait.png")
    shutil.copy(espeak("Good morning, captain. The ship is ready."), folder / "a1.wav")
    shutil.copy(espeak("We leave at dawn, whatever happens.", voice="en-us", rate=170), folder / "a2.wav")
    sf.write(folder / "silent.wav", np.zeros(16000 * 2), 16000)
    Image.new("RGB", (200, 200), (128, 128, 128)).save(folder / "grey.png")
    for name in ("a1.wav", "a2.wav"):
        assert 2.0 < sf.info(str(folder / name)).duration < 3.5
    return folder


def _copy_inputs(inputs: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(inputs, data)
    return data


def _write_csv(folder: Path, rows: list[tuple[str, ...]] = ROWS, name: str = "lines.csv") -> Path:
    text = "id,image,audio,prompt,seed,size\n" + "".join(f'{r[0]},{r[1]},{r[2]},"{r[3]}",3,128\n' for r in rows)
    (folder / name).write_text(text)
    return folder / name


# running the CLI ---------------------------------------------------------------------------------------------------
class BatchProcess:
    """``python -m engine batch ... --json-progress`` in its own process group, its events read as they come."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        env = dict(env or os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "engine", "batch", *args, "--json-progress"], cwd=ROOT,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)  # fmt: skip
        self.events: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr), daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self._queue.put(json.loads(line))
            except json.JSONDecodeError:
                self._queue.put({"event": "not JSON", "line": line})
        self._queue.put(None)

    def next_event(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = RUN_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                pytest.fail(f"no such event within {timeout:.0f} s; stderr: {''.join(self._stderr)[-3000:]}")
            try:
                event = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if event is None:
                pytest.fail(f"the batch ended first; stderr: {''.join(self._stderr)[-3000:]}")
            if event["event"] == "not JSON":
                self.kill()
                pytest.fail(f"--json-progress wrote a line that is not JSON: {event['line']!r}")
            self.events.append(event)
            if predicate(event):
                return event

    def finish(self, timeout: float = RUN_TIMEOUT) -> int:
        """Wait for the end; returns the exit status."""
        self.next_event(lambda e: e["event"] == "end", timeout)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("the batch did not exit after its end event")

    def kill(self) -> None:
        """Kill the whole run: the runner and its worker processes (its process group)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=60)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)


def _kill_worker_of(run: BatchProcess, row_id: str) -> int:
    """Kill the worker process that runs ``row_id``, mid-row; returns its pid."""
    start = run.next_event(lambda e: e["event"] == "start" and e["id"] == row_id)
    time.sleep(KILL_AFTER)
    pid = start["worker"]["pid"]
    os.kill(pid, signal.SIGKILL)
    return pid


# checks ------------------------------------------------------------------------------------------------------------
def _probe(path: Path) -> dict[str, Any]:
    cmd = ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
           "stream=codec_type,nb_read_frames,duration:format=duration", "-of", "json", str(path)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{path.name} does not play: {proc.stderr}"
    return json.loads(proc.stdout)


def _check_row_outputs(out: Path, data: Path, row_id: str, audio: str) -> None:
    """The MP4 plays with the right frames and duration; pose.json and lips.json match it."""
    duration = sf.info(str(data / audio)).duration
    n = math.ceil(duration * FPS - 1e-9)
    probe = _probe(out / f"{row_id}.mp4")
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert int(video["nb_read_frames"]) == n, row_id
    assert float(video["duration"]) == pytest.approx(n / FPS, abs=1.5 / FPS), row_id
    assert any(s["codec_type"] == "audio" for s in probe["streams"]), row_id
    assert float(probe["format"]["duration"]) == pytest.approx(duration, abs=0.15), row_id
    pose, pose_fps, _ = read_pose(str(out / f"{row_id}.pose.json"))
    lips, channels, lips_fps, _ = read_lips(str(out / f"{row_id}.lips.json"))
    assert len(pose) == len(lips) == n and pose_fps == lips_fps == FPS and channels[0] == "mouth_open"


def _check_no_half_files(out: Path, done: set[str], killed: bool = False) -> None:
    """Only the outputs of done rows and the run's own files; no temporary files, and no staging folder unless
    the run was killed (then the rows in flight are there, under temporary names, until the next run)."""
    expected = {f"{i}{s}" for i in done for s in OUTPUTS} | {
        "ledger.jsonl",
        "report.json",
        "workers.log",
        ".batch.lock",
    }
    if killed:
        expected.add(".partial")
    names = {p.name for p in out.iterdir()}
    assert names <= expected, sorted(names - expected)
    assert {f"{i}{s}" for i in done for s in OUTPUTS} <= names


def _ledger(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]


def _check_finished_run(run: BatchProcess, rc: int, out: Path, data: Path, killed: str) -> dict[str, Any]:
    assert rc == 1, run.stderr  # some rows failed
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "finished" and report["done"] == len(GOOD) and report["not_run"] == 0
    failures = {f["id"]: f for f in report["failures"]}
    assert set(failures) == set(BAD)
    lines = {r[0]: i + 2 for i, r in enumerate(ROWS)}
    for row_id, reason in BAD.items():
        assert reason in failures[row_id]["reason"], failures[row_id]
        assert failures[row_id]["line"] == lines[row_id] and failures[row_id]["code"] == "bad_input"
    audio = {r[0]: r[2] for r in ROWS}
    for row_id in GOOD:
        _check_row_outputs(out, data, row_id, audio[row_id])
    _check_no_half_files(out, set(GOOD))
    states = {r["id"]: r for r in report["row_states"]}
    assert states[killed]["status"] == "done" and states[killed]["attempts"] == 2, states[killed]
    killed_records = [r["state"] for r in _ledger(out) if r["id"] == killed]
    assert killed_records[-4:] == ["started", "crashed", "started", "done"], killed_records
    retry = [e for e in run.events if e["event"] == "retry"]
    assert [e["id"] for e in retry] == [killed], retry
    assert "was killed by SIGKILL" in retry[0]["reason"] or "was lost" in retry[0]["reason"], retry
    return report


def _check_second_run_does_no_work(args: list[str], out: Path, env: dict[str, str] | None = None) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name.startswith(GOOD)}
    run = BatchProcess(*args, env=env)
    rc = run.finish(timeout=120)
    assert rc == 1, run.stderr  # the bad rows are still failed
    plan = run.events[0]
    assert plan["event"] == "plan" and plan["todo"] == 0, plan
    assert plan["skipped_done"] == len(GOOD) and plan["skipped_failed"] == len(BAD) and plan["hashed_files"] == 0
    assert not [e for e in run.events if e["event"] in ("start", "done", "failed")]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name.startswith(GOOD)} == before


# the manifest --------------------------------------------------------------------------------------------------------
MALFORMED = {
    "no header": ("l1,portrait.png,a1.wav,nods\n", "line 1: no header"),
    "unknown column": ("id,image,audio,prompt,colour\nl1,portrait.png,a1.wav,nods,red\n", "line 1: unknown column"),
    "missing column": ("id,image,prompt\nl1,portrait.png,nods\n", "line 1: missing column audio"),
    "duplicate id": ("id,image,audio,prompt\n\nl1,p.png,a.wav,nods\nl2,p.png,a.wav,nods\nl1,p.png,a.wav,x\n",
                     "line 5 (id 'l1'): duplicate id (first on line 3)"),
    "ids differ in case": ("id,image,audio,prompt\nLine,p.png,a.wav,nods\nline,p.png,a.wav,x\n", "line 3"),
    "bad fps": ("id,image,audio,prompt,fps\nl1,p.png,a.wav,nods,fast\n", "line 2 (id 'l1'): fps must be a number"),
    "size out of range": ("id,image,audio,prompt,size\nl1,p.png,a.wav,nods,9\n", "line 2 (id 'l1'): size must be"),
    "id with a slash": ("id,image,audio,prompt\na/b,p.png,a.wav,nods\n", "line 2: the id 'a/b' cannot name a file"),
    "output column": ("id,image,audio,prompt,out\nl1,p.png,a.wav,nods,x.mp4\n", "line 1: column 'out'"),
    "too few values": ("id,image,audio,prompt\nl1,p.png,a.wav\n", "line 2: 3 values for 4 columns"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_manifest_is_one_line_exit_2_before_any_work(run_engine, tmp_path: Path, case: str) -> None:
    text, message = MALFORMED[case]
    manifest = tmp_path / "lines.csv"
    manifest.write_text(text)
    out = tmp_path / "out"
    proc = run_engine("batch", str(manifest), "--out", str(out), timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and f"lines.csv {message}" in proc.stderr, proc.stderr
    assert not out.exists()  # nothing written


def test_malformed_jsonl_names_the_line(run_engine, tmp_path: Path) -> None:
    manifest = tmp_path / "lines.jsonl"
    manifest.write_text('{"id": "l1", "image": "p.png", "audio": "a.wav", "prompt": "nods"}\n\n{"id": "l2", "im\n')
    proc = run_engine("batch", str(manifest), "--out", str(tmp_path / "out"), timeout=120)
    assert proc.returncode == 2 and "lines.jsonl line 3: not JSON" in proc.stderr, proc.stderr
    manifest.write_text('{"id": "l1", "image": "p.png", "audio": "a.wav", "prompt": "nods", "seed": "x"}\n')
    proc = run_engine("batch", str(manifest), "--out", str(tmp_path / "out"), timeout=120)
    assert proc.returncode == 2 and "line 1 (id 'l1'): seed must be a whole number" in proc.stderr, proc.stderr


def test_csv_and_jsonl_manifests_give_the_same_rows(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    csv_text = (
        "# studio lines, act 1\n"
        "ID;Image;Audio;Prompt;Seed;FPS;Size\n"
        'intro;../p.png;sub/a.wav;"nods; then\nlooks left";4;29.97;\n'
        "outro;/abs/p.png;~/b.wav;shakes head;;;256\n"
    )
    (tmp_path / "m.csv").write_text(csv_text)
    jsonl = [
        {"id": "intro", "image": "../p.png", "audio": "sub/a.wav", "prompt": "nods; then\nlooks left", "seed": 4,
         "fps": 29.97},
        {"id": "outro", "image": "/abs/p.png", "audio": "~/b.wav", "prompt": "shakes head", "size": "256"},
    ]  # fmt: skip
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in jsonl))
    rows = read_manifest(str(tmp_path / "m.csv"))
    assert [(r.id, r.line) for r in rows] == [("intro", 3), ("outro", 5)]
    assert rows[0].params == {"image": str(tmp_path.parent / "p.png"), "audio": str(tmp_path / "sub" / "a.wav"),
                              "prompt": "nods; then\nlooks left", "seed": 4, "fps": 29.97}  # fmt: skip
    assert rows[1].params == {"image": "/abs/p.png", "audio": os.path.expanduser("~/b.wav"), "prompt": "shakes head",
                              "size": 256}  # fmt: skip
    assert [r.params for r in read_manifest(str(tmp_path / "m.jsonl"))] == [r.params for r in rows]
    with pytest.raises(BadInput, match="manifest not found"):
        read_manifest(str(tmp_path / "nope.csv"))


def test_plan_follows_file_contents_not_names_or_times(inputs: Path, tmp_path: Path) -> None:
    """A rerun skips what is done and unchanged; a touched file is unchanged, a rewritten one is not."""
    data = _copy_inputs(inputs, tmp_path)
    an_hour_ago = time.time() - 3600
    for path in data.iterdir():  # files older than their hashes: the ledger's hashes are reused for them
        os.utime(path, (an_hour_ago, an_hour_ago))
    rows = read_manifest(str(_write_csv(data, ROWS[:3])))
    out = tmp_path / "out"
    out.mkdir()
    ledger = Ledger(str(out))
    plan = make_plan(rows, str(out), ledger.read(), OUTPUTS, retry_failed=False)
    assert [i.why for i in plan.todo] == ["new"] * 3 and plan.hashed_files == 3  # portrait, a1, a2 (nope.png: none)
    for item in plan.todo:  # as if the rows had run: outputs in place, "done" in the ledger
        sizes = {}
        for suffix in OUTPUTS:
            (out / f"{item.row.id}{suffix}").write_bytes(b"x" * 10)
            sizes[suffix] = 10
        ledger.append({"id": item.row.id, "state": "done", "key": item.key, "outputs": sizes, "inputs": item.inputs})
    ledger.close()
    again = make_plan(rows, str(out), ledger.read(), OUTPUTS, retry_failed=False)
    assert again.todo == [] and len(again.done) == 3 and again.hashed_files == 0
    os.utime(data / "a2.wav")  # same content, new time: hashed again, still unchanged
    again = make_plan(rows, str(out), ledger.read(), OUTPUTS, retry_failed=False)
    assert again.todo == [] and again.hashed_files == 1
    shutil.copy(data / "a2.wav", data / "a1.wav")  # new content under the same name
    (out / "l2.mp4").unlink()
    again = make_plan(rows, str(out), ledger.read(), OUTPUTS, retry_failed=False)
    assert {(i.row.id, i.why) for i in again.todo} == {("l1", "changed"), ("missing", "changed"),
                                                     ("l2", "outputs missing or changed")}  # fmt: skip


# whole runs ----------------------------------------------------------------------------------------------------------
def test_local_pool_batch_killed_then_resumed(inputs: Path, tmp_path: Path) -> None:
    """The local pool: a killed run leaves only whole files; the rerun finishes with good and bad rows and a
    worker killed mid-row (its row redone); a third run does no work."""
    data = _copy_inputs(inputs, tmp_path)
    manifest = _write_csv(data)
    out = tmp_path / "out"
    first = BatchProcess(str(manifest), "--out", str(out), "--workers", "1")
    done = first.next_event(lambda e: e["event"] == "done")
    first.kill()
    _check_no_half_files(out, {done["id"]}, killed=True)
    _check_row_outputs(out, data, done["id"], dict((r[0], r[2]) for r in ROWS)[done["id"]])

    args = [str(manifest), "--out", str(out), "--workers", "2"]
    run = BatchProcess(*args)
    plan = run.next_event(lambda e: e["event"] == "plan")
    # a bad row that fails at once may have failed in the killed run too, just before the kill: then it is skipped
    assert plan["skipped_done"] == 1 and plan["skipped_failed"] <= 1
    assert plan["todo"] + plan["skipped_failed"] == len(ROWS) - 1
    assert sum(plan["why"].values()) == plan["todo"] and set(plan["why"]) <= {"interrupted", "new"}, plan
    assert plan["why"].get("interrupted", 0) <= 1
    _kill_worker_of(run, "l2")
    report = _check_finished_run(run, run.finish(), out, data, killed="l2")
    assert report["pool"]["kind"] == "local" and report["pool"]["processes_started"] == 3  # 2 + 1 replacement
    _check_second_run_does_no_work(args, out)


def test_ray_cluster_batch(inputs: Path, tmp_path: Path) -> None:
    """A real two-node Ray cluster on 127.0.0.1 (``ray start``: a head and a second node). When this machine
    allows a private mount namespace, the second node does not see the data or the output folder, like a node
    without the shared file system: its rows get their inputs through Ray's object store and send their outputs
    back. A worker is killed mid-row; its row is redone."""
    data = _copy_inputs(inputs, tmp_path)
    manifest = _write_csv(data)
    out = tmp_path / "out"
    out.mkdir()
    hide = can_hide_folders()
    cluster = RayTestCluster()
    try:
        cluster.start(hide_from_second_node=[data, out] if hide else None)
        listening = cluster.listening()
        assert listening and all(is_loopback(a) for a in listening), listening
        args = [str(manifest), "--out", str(out), "--ray", cluster.address]
        run = BatchProcess(*args, env=cluster.env)
        _kill_worker_of(run, "l2")
        report = _check_finished_run(run, run.finish(), out, data, killed="l2")
        pool = report["pool"]
        assert pool["kind"] == "ray" and pool["nodes"] == 2 and pool["actors_replaced"] >= 1
        if hide:
            assert pool["rows_sent_through_object_store"] >= 1, pool
        _check_second_run_does_no_work(args, out, env=cluster.env)
    finally:
        cluster.stop()
    assert cluster.pids() == []


def test_ray_local_listens_on_loopback_only(inputs: Path, tmp_path: Path) -> None:
    """``--ray local`` starts Ray for the run on 127.0.0.1 only, keeps its token out of the home folder, and
    stops it at the end."""
    data = _copy_inputs(inputs, tmp_path)
    manifest = _write_csv(data, [ROWS[0], ROWS[1]])
    out = tmp_path / "out"
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["HOME"] = str(home)
    run = BatchProcess(str(manifest), "--out", str(out), "--ray", "local", "--workers", "1", env=env)
    run.next_event(lambda e: e["event"] == "start" and e["id"] == "l1")
    ray_pids = _descendants(run.proc.pid)
    listening = listening_addresses(ray_pids | {run.proc.pid})
    rc = run.finish()
    assert rc == 1, run.stderr
    assert listening and all(is_loopback(a) for a in listening), listening
    report = json.loads((out / "report.json").read_text())
    assert (
        report["pool"]["kind"] == "ray" and report["done"] == 1 and [f["id"] for f in report["failures"]] == ["missing"]
    )
    _check_row_outputs(out, data, "l1", "a1.wav")
    assert not (home / ".ray").exists()  # no token file, no Ray state in the home folder
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in ray_pids):
        time.sleep(0.5)
    assert ray_pids and not [p for p in ray_pids if _alive(p)]  # Ray stopped with the run


def _descendants(pid: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, grown = {pid}, True
    while grown:
        children = {p for p, pp in parents.items() if pp in found} - found
        grown = bool(children)
        found |= children
    return found - {pid}


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_batch_flags_come_from_the_params_table(run_engine) -> None:
    text = " ".join(run_engine("batch", "--help").stdout.split())
    for param in COMMANDS["batch"]:
        name = param.name if param.positional else param.flag
        assert name in text, name
        if param.default is not None and param.kind != "bool":
            assert f"(default {param.default})" in text, param.name


def test_bad_options_are_one_line_exit_2(run_engine, tmp_path: Path) -> None:
    manifest = tmp_path / "lines.csv"
    manifest.write_text("id,image,audio,prompt\nl1,p.png,a.wav,nods\n")
    for args, message in (
        (["--out", str(tmp_path / "out"), "--ray", "nowhere"], "--ray must be local, auto, host:port"),
        (["--out", str(tmp_path / "no" / "such" / "out")], "the output folder's parent does not exist"),
        (["--out", str(tmp_path / "out"), "--workers", "0"], "workers must be between 1 and 4096"),
    ):
        proc = run_engine("batch", str(manifest), *args, timeout=120)
        assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not (tmp_path / "out").exists()


def test_columns_are_animates_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifest's columns are animate's parameters at run time: the transcript (text, language) and the pose
    reference video are animate's own (a path made absolute); an option added to animate is a column at once."""
    manifest = tmp_path / "lines.csv"
    manifest.write_text("id,image,audio,prompt,text,language,pose_video\n"
                        "l1,p.png,a.wav,nods,\"Bonjour, capitaine.\",fr,ref/take1.mp4\n")  # fmt: skip
    (row,) = read_manifest(str(manifest))
    assert row.params["text"] == "Bonjour, capitaine." and row.params["language"] == "fr"
    assert row.params["pose_video"] == str(tmp_path / "ref" / "take1.mp4")
    manifest.write_text("id,image,audio,prompt,head_sway\nl1,p.png,a.wav,nods,0.5\n")
    with pytest.raises(BadInput, match="unknown column 'head_sway'"):
        read_manifest(str(manifest))
    monkeypatch.setitem(PARAMS, "animate", (*PARAMS["animate"], Param("head_sway", "float", 0.0, "sway", min=0, max=1)))
    (row,) = read_manifest(str(manifest))
    assert row.params["head_sway"] == 0.5
