"""Every parameter of every op (and of the commands that are not ops: batch), defined once: name, type, default,
range and a one-line help.

The CLI builds its flags from this table, the worker and the CLI check requests with it
(:func:`check`), the pipelines take their defaults from it, and the worker's ``schema`` op
returns it, so the Blender add-on can be tested against it. An op's params are checked
before any work: a wrong type, a value out of range or an unknown name is one BadInput line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from .errors import BadInput

SEED_MAX = 2**31 - 1  # Blender's IntProperty holds no more
PROMPT_MAX_CHARS = 1000
TRANSCRIPT_MAX_CHARS = 100_000
AUDIO_MAX_SECONDS = 3 * 3600.0  # longer audio is refused
VIDEO_MAX_SECONDS = 24 * 3600.0  # the latest start in a video


@dataclass(frozen=True)
class Param:
    """One parameter of an op.

    ``kind``: ``float``, ``int``, ``bool``, ``str``, ``choice`` (one of ``choices``), ``path`` (a file name) or
    ``doc`` (a JSON document given inline or as the path of a file). ``cli``: offered as a command-line flag.
    """

    name: str
    kind: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    cli: bool = True
    missing: str = ""  # the message when a required value is absent or blank (default: "no NAME given")
    positional: bool = False  # a command-line argument without a flag (the batch manifest)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        """``value`` converted to the parameter's type and checked against its range; None stays None."""
        if value is None:
            if self.required:
                raise BadInput(self.missing or f"no {self.name} given")
            return self.default
        if self.kind == "float":
            return self._number(value, float)
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                raise BadInput(f"{self.name} must be a whole number, got {value!r}")
            return self._number(int(value), int)
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise BadInput(f"{self.name} must be true or false, got {value!r}")
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise BadInput(f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}")
            return value
        if self.kind == "doc":
            if isinstance(value, dict) or (isinstance(value, str) and value):
                return value
            raise BadInput(f"{self.name} must be a JSON document or the path of one, got {value!r}")
        if not isinstance(value, str):  # str, path
            raise BadInput(f"{self.name} must be a string, got {value!r}")
        if self.kind == "path" and "\0" in value:
            raise BadInput(f"{self.name} is not a valid path")
        if self.required and not value.strip():
            raise BadInput(self.missing or f"no {self.name} given")
        length = len(" ".join(value.split()))  # runs of white space count as one
        if self.max is not None and length > self.max:
            raise BadInput(f"the {self.name} is {length} characters long; the limit is {self.max:g}")
        return value if value else self.default

    def _number(self, value: Any, kind: type) -> Any:
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise BadInput(f"{self.name} must be a number, got {value!r}") from None
        if isinstance(value, bool) or not math.isfinite(number):
            raise BadInput(f"{self.name} must be a number, got {value!r}")
        lo = -math.inf if self.min is None else self.min
        hi = math.inf if self.max is None else self.max
        if not lo <= number <= hi:
            raise BadInput(f"{self.name} must be between {lo:g} and {hi:g}, got {number:g}")
        return number

    def schema(self) -> dict[str, Any]:
        """The parameter as JSON (the worker's ``schema`` op)."""
        out: dict[str, Any] = {"name": self.name, "type": self.kind, "default": self.default, "help": self.help}
        for key in ("min", "max"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.choices:
            out["choices"] = list(self.choices)
        if self.required:
            out["required"] = True
        return out


# shared groups ---------------------------------------------------------------------------------------------------
FPS = Param("fps", "float", 25.0, "video frame rate (23.976, 29.97 work)", 1.0, 240.0)
AUDIO = (
    Param("audio", "path", None, "speech audio file (wav, flac, mp3, ogg, ...)", required=True),
    FPS,
    Param("audio_offset", "float", 0.0, "start this many seconds into the audio", 0.0, AUDIO_MAX_SECONDS),
    Param("audio_duration", "float", None, "use only this many seconds of audio (default: to the end)", 0.001),
)
PROMPT = Param(
    "prompt",
    "str",
    None,
    'head motion in words, e.g. "nods slowly, then looks left"',
    max=PROMPT_MAX_CHARS,
    required=True,
    missing="the prompt is empty: describe the head motion, e.g. 'nods slowly, then looks to the left'",
)
STRENGTH = Param("strength", "float", 1.0, "motion amplitude", 0.0, 5.0)
SMOOTHING = Param("smoothing", "float", 0.0, "extra smoothing of the motion in seconds", 0.0, 5.0)
MOTION = (
    PROMPT,
    Param("seed", "int", 0, "variation seed: each seed is another take", 0, SEED_MAX),
    Param(
        "backend",
        "choice",
        "auto",
        "pose model: auto (the default model), pld (diffusion) or procedural (keywords)",
        choices=("auto", "pld", "procedural"),
    ),
    STRENGTH,
    Param("strength_rotation", "float", 1.0, "amplitude of the turns, on top of strength", 0.0, 5.0),
    Param(
        "strength_translation",
        "float",
        1.0,
        "amplitude of the sideways and up-down moves, on top of strength",
        0.0,
        5.0,
    ),
    Param(
        "strength_scale",
        "float",
        1.0,
        "amplitude of the moves toward and away from the camera, on top of strength",
        0.0,
        5.0,
    ),
    SMOOTHING,
    Param(
        "time_offset_ms",
        "float",
        0.0,
        "delay of the motion against the audio in ms (negative: the head leads)",
        -2000.0,
        2000.0,
    ),
    Param(
        "guidance",
        "float",
        5.0,
        "how strongly the pld model follows the prompt (classifier-free guidance; 1: none)",
        0.0,
        20.0,
    ),
    Param(
        "audio_guidance",
        "float",
        1.0,
        "how strongly the pld model's motion follows the rhythm of the speech (guidance on the audio; 1: none)",
        0.0,
        20.0,
    ),
    Param(
        "guidance_until",
        "float",
        0.4,
        "the pld model's guidance acts on its sampler's noisier steps only, down to this noise level (0: on every "
        "step; 1: on none): the takes differ more and move more smoothly",
        0.0,
        1.0,
    ),
    Param(
        "posture_guidance",
        "float",
        0.0,
        "how much of the pld model's guidance acts on the head's posture in each stretch of the motion (1: all, as "
        "on the motion about it; 0: none, so takes differ in posture as they do without guidance)",
        0.0,
        1.0,
    ),
    Param(
        "posture_seconds",
        "float",
        0.64,
        "what counts as the head's posture for posture_guidance: its motion averaged over this many seconds, the "
        "slow turns with it, except where the prompt asks for calm (0: the mean of each 5-second stretch)",
        0.0,
        5.0,
    ),
    Param("steps", "int", 25, "sampler steps of the pld model (fewer: faster, rougher)", 1, 200),
    Param(
        "pause_calm",
        "float",
        0.5,
        "how much the pld model's quick motion (nods, shakes) settles in pauses (0: as generated, 1: slow turns only)",
        0.0,
        1.0,
    ),
)
PORTRAIT = (
    Param("image", "path", None, "portrait image", required=True),
    Param("size", "int", 512, "longest side of the frames in pixels", 64, 4096),
    Param("face", "int", None, "which face, when the image has several (0 = leftmost)", 0, 64),
    Param(
        "device",
        "choice",
        "auto",
        "where to render: auto (CUDA when there is one), cpu or cuda",
        choices=("auto", "cpu", "cuda"),
    ),
    Param(
        "cache_dir",
        "path",
        None,
        "keep the per-portrait set-up (face mesh, turn measurement) in this folder between runs",
    ),
)
LIPS = (
    Param("strength", "float", 1.0, "mouth opening strength (above 1: stylised)", 0.0, 3.0),
    Param(
        "time_offset_ms",
        "float",
        0.0,
        "delay of the mouth against the audio in ms (negative: the mouth leads)",
        -2000.0,
        2000.0,
    ),
)

TRANSCRIPT = (
    Param(
        "text",
        "str",
        None,
        "the dialogue's words (transcript): phones from the text, aligned to the audio; any language espeak-ng speaks",
        max=TRANSCRIPT_MAX_CHARS,
    ),
    Param(
        "language",
        "str",
        "en",
        "language of the text, an espeak-ng code (en, en-us, fr, de, es, cs, ...; `espeak-ng --voices` lists them)",
    ),
)

VIDEO = Param("video", "path", None, "the reference video: a face acting the motion (any file ffmpeg reads)",
              required=True)  # fmt: skip
CAPTURE = (
    VIDEO,
    Param("fps", "float", None, "frame rate of the curves (default: the video's own)", 1.0, 240.0),
    Param("start", "float", 0.0, "start this many seconds into the video", 0.0, VIDEO_MAX_SECONDS),
    Param("duration", "float", None, "capture only this many seconds (default: to the end)", 0.001),
    Param("face", "int", None, "which face, when the video shows several (0 = leftmost)", 0, 64),
    Param(
        "reference_frame",
        "int",
        None,
        "the frame whose head pose is zero (default: the first frame with a face)",
        0,
        VIDEO_MAX_SECONDS * 240,
    ),
    Param("image", "path", None, "measure the angles from this portrait's own head pose instead"),
    STRENGTH,
    SMOOTHING,
)
POSE_VIDEO = (
    Param("pose_video", "path", None, "take the head motion from this video instead of the prompt (PC-AVS)"),
    Param("pose_video_start", "float", 0.0, "start this many seconds into the pose video", 0.0, VIDEO_MAX_SECONDS),
    Param("pose_video_face", "int", None, "which face of the pose video, when it shows several (0 = leftmost)", 0, 64),
    Param("mouth_from_video", "bool", False, "mouth and blinks from the pose video too, not from the audio"),
)

OPS: dict[str, tuple[Param, ...]] = {
    "pose": (
        *AUDIO,
        *MOTION,
        Param("pins", "doc", None, "pins.json: a pose.json whose frames may be null except at pinned frames"),
        Param("out", "path", None, "output pose.json (the worker returns the document when it is left out)"),
    ),
    "lips": (
        *AUDIO,
        *LIPS,
        *TRANSCRIPT,
        Param("blinks", "bool", False, "also an eyelid channel 'blink' (0 open … 1 closed) for a character's eyes"),
        Param("seed", "int", 0, "seed of the blinks", 0, SEED_MAX),
        Param("out", "path", None, "output lips.json (the worker returns the document when it is left out)"),
    ),
    "render": (
        *PORTRAIT,
        Param("audio", "path", None, "audio to mux into the video"),
        Param("pose", "doc", None, "pose.json", required=True),
        Param("lips", "doc", None, "lips.json (a closed mouth without it)"),
        Param("blinks", "bool", True, "eye blinks (the lips' blink channel when it has one, else natural ones)"),
        Param("seed", "int", 0, "seed of the blinks", 0, SEED_MAX),
        Param("batch", "int", 16, "frames synthesized together", 1, 1024, cli=False),
        Param("out", "path", None, "folder for the PNG frames", required=True),
        Param("video", "path", None, "also write this MP4 (with the audio muxed)"),
    ),
    "animate": (
        *AUDIO,
        *TRANSCRIPT,
        replace(PROMPT, required=False, help=PROMPT.help + " (not needed with --pose-video)"),
        *MOTION[1:],
        *PORTRAIT,
        *POSE_VIDEO,
        Param("blinks", "bool", True, "eye blinks (the lips' blink channel when it has one, else natural ones)"),
        Param("out", "path", None, "output MP4", required=True),
        Param("pose_out", "path", None, "also write the head motion it made as this pose.json"),
        Param("lips_out", "path", None, "also write the mouth channels it made as this lips.json"),
    ),
    "capture": (
        *CAPTURE,
        Param("out", "path", None, "output pose.json (the worker returns the document when it is left out)"),
        Param("lips_out", "path", None, "also write lips.json: the mouth channels and a blink channel"),
    ),
}

# command-line commands that are not worker ops: their flags, checked like an op's params ---------------------------
BATCH_TRANSFERS = ("auto", "shared", "object-store")
COMMANDS: dict[str, tuple[Param, ...]] = {
    "batch": (
        Param("manifest", "path", None, "the manifest: CSV or JSON Lines, one row per line (columns id, image, "
              "audio, prompt and any other option of animate)", required=True, positional=True),
        Param("out", "path", None, "output folder: <id>.mp4, <id>.pose.json and <id>.lips.json per row (and "
              "<id>.blend with --blend), the ledger and report.json", required=True),
        Param("workers", "int", None, "worker processes, or Ray actors (default: the CPU cores, fewer when the "
              "memory would not hold them; on Ray: the cluster's CPUs)", 1, 4096),
        Param("ray", "str", None, "run on Ray: 'local' starts one for the run on 127.0.0.1; auto, host:port or "
              "ray://host:port joins a running cluster"),
        Param("retries", "int", 2, "times a row is tried again when its worker crashed or its node vanished", 0, 100),
        Param("json_progress", "bool", False, "progress as JSON lines on stdout (for pipelines)"),
        Param("dry_run", "bool", False, "only plan: read the manifest and the ledger and say what would run"),
        Param("retry_failed", "bool", False, "run again the rows that failed on bad input and have not changed since"),
        Param("transfer", "choice", "auto", "on Ray, how nodes get the inputs and give back the outputs: auto (the "
              "shared path when a node sees the files, else the object store), shared or object-store",
              choices=BATCH_TRANSFERS),
        Param("blend", "bool", False, "also save <id>.blend per row: the talking head with its editable curves and "
              "the sound strip, made by Blender through the add-on's own operators"),
        Param("blender", "path", None, "the Blender for --blend: a blender executable or a Python with the bpy "
              "module (default: this Python when it has bpy, else blender on the PATH)"),
        Param("gpus_per_worker", "float", None, "GPUs each Ray actor declares (default: the cluster's GPUs shared "
              "evenly by the actors, 0 without GPUs)", 0.0, 64.0),
    ),
}  # fmt: skip


def params_of(name: str) -> tuple[Param, ...]:
    """The parameters of op or command ``name``."""
    return OPS[name] if name in OPS else COMMANDS[name]


def check(op: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` of ``op`` (or of a command) checked and completed with the defaults (every name is a key).

    Unknown names are an error, so a caller whose settings drifted from this table hears of it.
    """
    if not isinstance(params, dict):
        raise BadInput("params must be a JSON object")
    table = {p.name: p for p in params_of(op)}
    unknown = sorted(set(params) - set(table))
    if unknown:
        raise BadInput(f"unknown parameter{'s' if len(unknown) > 1 else ''} for {op}: {', '.join(unknown)}")
    return {name: param.check(params.get(name)) for name, param in table.items()}


def default(op: str, name: str) -> Any:
    """The default of ``op``'s parameter ``name`` (pipelines take their defaults from here)."""
    return next(p.default for p in params_of(op) if p.name == name)


def schema() -> dict[str, Any]:
    """Every op's parameters as JSON."""
    return {op: [p.schema() for p in params] for op, params in OPS.items()}
