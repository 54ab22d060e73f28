"""Command line: ``python -m engine pose|lips|render|animate|serve`` (DESIGN.md, "CLI").

Every sub-command maps its flags onto the params of the op of the same name and
runs it through the job registry; progress goes to stderr. Errors print one line
on stderr; bad input exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from . import __version__
from .errors import EngineError
from .jobs import Job, run_op


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def _add_audio(p: argparse.ArgumentParser) -> None:
    p.add_argument("--audio", required=True, help="speech audio file (wav, flac, mp3, ogg, ...)")
    p.add_argument("--fps", type=float, default=25.0, help="video frame rate (default 25; 23.976, 29.97 work)")
    p.add_argument("--audio-offset", type=float, default=0.0, help="start this many seconds into the audio")
    p.add_argument("--audio-duration", type=float, default=None, help="use only this many seconds of audio")


def _add_pose_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prompt", required=True, help='head motion in words, e.g. "nods slowly, then looks left"')
    p.add_argument("--seed", type=int, default=0, help="variation seed (default 0)")
    p.add_argument("--backend", default="auto", help="pose backend: auto, pld or procedural")
    p.add_argument("--strength", type=float, default=1.0, help="motion amplitude (default 1.0)")
    p.add_argument("--smoothing", type=float, default=0.0, help="extra smoothing in seconds (default 0)")
    p.add_argument(
        "--time-offset-ms", type=float, default=0.0, help="delay the motion against the audio (negative: lead)"
    )
    p.add_argument(
        "--guidance",
        type=float,
        default=None,
        help="how strongly the pld backend follows the prompt (classifier-free guidance, default 3)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m engine", description="PoseTalk engine: talking-head motion, lips and frames.")
    parser.add_argument("--version", action="version", version=f"posetalk-engine {__version__}")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("pose", help="audio + prompt → pose.json (head motion)")
    _add_audio(p)
    _add_pose_options(p)
    p.add_argument("--pins", default=None, help="pins.json: a pose.json whose frames may be null except at pins")
    p.add_argument("--out", required=True, help="output pose.json")

    p = sub.add_parser("lips", help="audio → lips.json (mouth channels and visemes)")
    _add_audio(p)
    p.add_argument("--strength", type=float, default=1.0, help="mouth opening strength (default 1.0)")
    p.add_argument(
        "--time-offset-ms", type=float, default=0.0, help="delay the mouth against the audio (negative: lead)"
    )
    p.add_argument("--out", required=True, help="output lips.json")

    p = sub.add_parser("render", help="portrait + pose.json + lips.json → frames (and an MP4)")
    p.add_argument("--image", required=True, help="portrait image")
    p.add_argument("--audio", default=None, help="audio to mux into --video")
    p.add_argument("--pose", required=True, help="pose.json")
    p.add_argument("--lips", default=None, help="lips.json (closed mouth if omitted)")
    p.add_argument("--size", type=int, default=512, help="longest side of the frames in pixels (default 512)")
    p.add_argument("--face", type=int, default=None, help="which face, when the image has several (0 = leftmost)")
    p.add_argument("--no-blinks", dest="blinks", action="store_false", help="do not add eye blinks")
    p.add_argument("--seed", type=int, default=0, help="seed for blinks (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--cache-dir", default=None, help="keep the per-portrait set-up (face mesh) here between runs")
    p.add_argument("--out", required=True, help="folder for the PNG frames")
    p.add_argument("--video", default=None, help="also write this MP4 (with the audio muxed)")

    p = sub.add_parser("animate", help="portrait + audio + prompt → MP4 in one go")
    p.add_argument("--image", required=True, help="portrait image")
    _add_audio(p)
    _add_pose_options(p)
    p.add_argument("--size", type=int, default=512, help="longest side of the frames in pixels (default 512)")
    p.add_argument("--face", type=int, default=None, help="which face, when the image has several (0 = leftmost)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--out", required=True, help="output MP4")

    sub.add_parser("serve", help="JSON-lines worker on stdin/stdout (used by the Blender add-on)")
    return parser


_FLAG_TO_PARAM = {"audio_offset": "audio_offset", "audio_duration": "audio_duration"}


def params_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The op params for parsed CLI arguments (None values are left out)."""
    skip = {"command", "quiet"}
    return {_FLAG_TO_PARAM.get(k, k): v for k, v in vars(args).items() if k not in skip and v is not None}


class _StderrProgress:
    """Progress on stderr: a line per whole percent when not a terminal, a bar on one."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.last = -1
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int, message: str) -> None:
        if self.quiet or total <= 0:
            return
        pct = int(100 * done / total)
        if pct == self.last:
            return
        self.last = pct
        end = "\r" if self.tty and pct < 100 else "\n"
        if self.tty or pct % 10 == 0:
            sys.stderr.write(f"{pct:3d}% {message}{' ' * 20}{end}")
            sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from .worker import serve

        return serve()
    job = Job("cli", _StderrProgress(args.quiet))
    try:
        result = run_op(args.command, params_from_args(args), job)
    except EngineError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except Exception as exc:  # a fault of the engine, not of the input: one line, details with POSETALK_DEBUG=1
        if os.environ.get("POSETALK_DEBUG"):
            raise
        sys.stderr.write(f"error: internal engine error: {type(exc).__name__}: {exc}\n")
        return 1
    path = result.get("path") or result.get("video") or result.get("frames_dir")
    if path and not args.quiet:
        sys.stderr.write(f"wrote {path}\n")
    return 0
