"""The per-row pipeline: the steps a worker runs for one manifest row, each writing its own output files.

A step gets the row's animate params, the paths its outputs go to (in the row's staging folder; the runner
renames them into place only when every step of the row succeeded) and the paths of the earlier steps' outputs,
so a later step (e.g. a .blend built from the pose.json and lips.json) is one more entry in :data:`STEPS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..jobs import Job, run_op
from .manifest import OP

StepFunc = Callable[[dict[str, Any], dict[str, str], Job], dict[str, Any]]


@dataclass(frozen=True)
class RowStep:
    """One step of a row: its name, the file suffixes it writes (``<id><suffix>``) and its function."""

    name: str
    outputs: tuple[str, ...]
    run: StepFunc


def _animate(params: dict[str, Any], paths: dict[str, str], job: Job) -> dict[str, Any]:
    """The animate op, writing the MP4 and the pose.json and lips.json it made."""
    out = {"out": paths[".mp4"], "pose_out": paths[".pose.json"], "lips_out": paths[".lips.json"]}
    res = run_op(OP, {**params, **out}, job)
    return {key: res[key] for key in ("n_frames", "fps", "width", "height")}


STEPS: dict[str, RowStep] = {
    "animate": RowStep("animate", (".mp4", ".pose.json", ".lips.json"), _animate),
}
DEFAULT_STEPS = ("animate",)


def outputs_of(steps: tuple[str, ...]) -> tuple[str, ...]:
    """Every output suffix of ``steps``, in order."""
    return tuple(suffix for name in steps for suffix in STEPS[name].outputs)


def run_steps(steps: tuple[str, ...], params: dict[str, Any], paths: dict[str, str], job: Job) -> dict[str, Any]:
    """Run ``steps`` for one row; the steps' results merged (EngineError: the row fails with its message)."""
    info: dict[str, Any] = {}
    for name in steps:
        info.update(STEPS[name].run(params, paths, job))
    return info
