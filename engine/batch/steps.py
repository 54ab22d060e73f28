"""The per-row pipeline: the steps a worker runs for one manifest row, each writing its own output files.

A step gets the row's animate params (input paths as this node reads them), the paths its outputs go to (in the
row's staging folder; the runner renames them into place only when every step of the row succeeded, so the
earlier steps' outputs are there for the later ones) and the row's task (the params as the manifest names them,
the run's options). ``animate`` makes the MP4, pose.json and lips.json; ``blend`` (``--blend``) builds the .blend
from them in a Blender process of its own (scripts/blend_row.py: the add-on's own operators, one process per row,
so a Blender crash fails the row alone and leaves no memory behind).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import BadInput, EngineError
from ..jobs import Job, run_op
from .manifest import OP

StepFunc = Callable[[dict[str, Any], dict[str, str], Job, dict[str, Any]], dict[str, Any]]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BLEND_SCRIPT = os.path.join(ROOT, "scripts", "blend_row.py")
BLEND_TIMEOUT = 600.0  # seconds for one row's Blender (building a scene of one head takes a few)


@dataclass(frozen=True)
class RowStep:
    """One step of a row: its name, the file suffixes it writes (``<id><suffix>``) and its function."""

    name: str
    outputs: tuple[str, ...]
    run: StepFunc


def _animate(params: dict[str, Any], paths: dict[str, str], job: Job, task: dict[str, Any]) -> dict[str, Any]:
    """The animate op, writing the MP4 and the pose.json and lips.json it made."""
    out = {"out": paths[".mp4"], "pose_out": paths[".pose.json"], "lips_out": paths[".lips.json"]}
    res = run_op(OP, {**params, **out}, job)
    return {key: res[key] for key in ("n_frames", "fps", "width", "height")}


def blender_command(blender: str | None) -> list[str]:
    """The command that runs scripts/blend_row.py: ``blender`` (a Blender executable, or a Python with the bpy
    module), by default this Python when it has bpy, else ``blender`` on the PATH. BadInput when there is none."""
    if blender:
        path = shutil.which(blender) or (blender if os.path.isfile(blender) else None)
        if path is None:
            raise BadInput(f"Blender not found: {blender}")
    elif importlib.util.find_spec("bpy") is not None:
        path = sys.executable
    else:
        path = shutil.which("blender")
        if path is None:
            raise BadInput("--blend needs Blender: install it (blender on the PATH) or give --blender PATH")
    if "blender" in os.path.basename(path).lower():
        return [path, "-b", "--factory-startup", "--python-exit-code", "1", "--python", BLEND_SCRIPT, "--"]
    return [path, BLEND_SCRIPT]


def _blend(params: dict[str, Any], paths: dict[str, str], job: Job, task: dict[str, Any]) -> dict[str, Any]:
    """The row's .blend: the talking head with the pose.json and lips.json as editable keys, made by Blender."""
    job.progress(0, 1, "building the .blend")
    manifest_params = task["params"]
    options = {k: v for k, v in manifest_params.items() if k not in ("image", "audio")}
    with tempfile.TemporaryDirectory(prefix="posetalk-blend-") as folder:
        spec = {"id": task["id"], "image": params["image"], "audio": params["audio"], "pose": paths[".pose.json"],
                "lips": paths[".lips.json"], "out": paths[".blend"], "engine_python": sys.executable,
                "params": options, "saved_paths": {k: manifest_params[k] for k in ("image", "audio")}}  # fmt: skip
        spec_path = os.path.join(folder, "spec.json")
        with open(spec_path, "w", encoding="utf-8") as fh:
            json.dump(spec, fh)
        user = os.path.join(folder, "blender-user")  # the add-on is installed here, for this process only
        env = dict(os.environ, BLENDER_USER_RESOURCES=user, PYTHONPATH="")
        try:
            proc = subprocess.run([*blender_command(task.get("blender")), spec_path], env=env, cwd=folder,
                                  capture_output=True, text=True, timeout=BLEND_TIMEOUT)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise EngineError(f"Blender did not save the .blend within {BLEND_TIMEOUT:.0f} s") from None
    if proc.returncode != 0 or not os.path.isfile(paths[".blend"]):
        lines = [ln[len("error: ") :] for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
        tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise EngineError(f"the .blend failed: {lines[-1] if lines else tail}")
    job.progress(1, 1, "saved the .blend")
    return {}


STEPS: dict[str, RowStep] = {
    "animate": RowStep("animate", (".mp4", ".pose.json", ".lips.json"), _animate),
    "blend": RowStep("blend", (".blend",), _blend),
}
DEFAULT_STEPS = ("animate",)
BLEND_STEPS = ("animate", "blend")


def outputs_of(steps: tuple[str, ...]) -> tuple[str, ...]:
    """Every output suffix of ``steps``, in order."""
    return tuple(suffix for name in steps for suffix in STEPS[name].outputs)


def run_steps(steps: tuple[str, ...], params: dict[str, Any], paths: dict[str, str], job: Job,
              task: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Run ``steps`` for one row; the steps' results merged (EngineError: the row fails with its message)."""
    info: dict[str, Any] = {}
    for name in steps:
        info.update(STEPS[name].run(params, paths, job, task))
    return info
