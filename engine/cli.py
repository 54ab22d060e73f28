"""Command line: ``python -m engine pose|lips|render|animate|capture|batch|serve``.

Every op sub-command's flags are the params of the op of the same name (engine.params) and
it runs through the job registry; progress goes to stderr. Commands that are not ops (``batch``)
take their flags from ``engine.params.COMMANDS`` and run their own function. Errors print one line
on stderr; bad input exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from typing import Any

from . import __version__
from .errors import BadInput, EngineError
from .jobs import Job, run_op
from .params import COMMANDS as COMMAND_PARAMS
from .params import OPS, Param


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


COMMANDS = {
    "pose": "audio + prompt → pose.json (head motion)",
    "lips": "audio (and its text) → lips.json (mouth channels and visemes)",
    "render": "portrait + pose.json + lips.json → frames (and an MP4)",
    "animate": "portrait + audio + prompt (or a pose video) → MP4 in one go",
    "capture": "video of a face → pose.json (head motion) and lips.json (mouth and blinks)",
}
# commands that are not worker ops: "module:function" of ``(params, quiet) -> exit status``, and a summary
TOOLS = {
    "batch": (
        "engine.batch.runner:run_batch",
        "a manifest of dialogue lines → MP4, pose.json and lips.json per line (a local pool, or Ray)",
    ),
}
_TYPES = {"float": float, "int": int}
TEXT_FILE_COMMANDS = ("lips", "animate")  # the commands whose --text may come from a file


def _add_param(p: argparse.ArgumentParser, param: Param) -> None:
    """``param`` as a flag: its type, range in the help, default from the table (absent flags stay absent)."""
    help_text = param.help
    if param.positional:
        p.add_argument(param.name, help=help_text)
        return
    if param.min is not None and param.max is not None:
        help_text += f"; {param.min:.10g} to {param.max:.10g}"
    if param.default is not None and param.kind != "bool":
        help_text += f" (default {param.default})"
    if param.kind == "bool":
        flag = param.flag if not param.default else "--no-" + param.flag[2:]
        help_text = f"no {help_text} (they are on by default)" if param.default else help_text
        action = "store_false" if param.default else "store_true"
        p.add_argument(flag, dest=param.name, action=action, default=argparse.SUPPRESS, help=help_text)
        return
    required = param.required or param.name == "out"
    kwargs: dict[str, Any] = {"type": _TYPES.get(param.kind, str), "default": argparse.SUPPRESS}
    if param.choices:
        kwargs["choices"] = param.choices
    p.add_argument(param.flag, dest=param.name, required=required, help=help_text, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m engine", description="PoseTalk engine: talking-head motion, lips and frames.")
    parser.add_argument("--version", action="version", version=f"posetalk-engine {__version__}")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command, summary in COMMANDS.items():
        p = sub.add_parser(command, help=summary, description=summary)
        for param in OPS[command]:
            if param.cli:
                _add_param(p, param)
    for command in TEXT_FILE_COMMANDS:
        sub.choices[command].add_argument(
            "--text-file", dest="text_file", default=argparse.SUPPRESS, help="read the --text from this UTF-8 file"
        )
    for command, (_func, summary) in TOOLS.items():
        p = sub.add_parser(command, help=summary, description=summary)
        for param in COMMAND_PARAMS[command]:
            _add_param(p, param)
    sub.add_parser("serve", help="JSON-lines worker on stdin/stdout (used by the Blender add-on)")
    return parser


def params_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The op params for parsed CLI arguments (flags not given are left out: the op takes their defaults).

    ``--text-file`` (lips, animate) is read into ``text`` here; giving it with ``--text`` is an error.
    """
    params = {k: v for k, v in vars(args).items() if k not in ("command", "quiet", "text_file")}
    path = getattr(args, "text_file", None)
    if path is not None:
        if "text" in params:
            raise BadInput("give the transcript with --text or --text-file, not both")
        try:
            with open(path, encoding="utf-8") as handle:
                params["text"] = handle.read()
        except FileNotFoundError:
            raise BadInput(f"text file not found: {path}") from None
        except UnicodeDecodeError:
            raise BadInput(f"text file is not UTF-8 text: {path}") from None
        except OSError as exc:
            raise BadInput(f"cannot read the text file {path}: {exc.strerror}") from None
    return params


class _StderrProgress:
    """Progress as one updating line on stderr, only when stderr is a terminal (logs and pipes get no progress:
    on them stderr carries at most the one line of an error)."""

    def __init__(self, quiet: bool) -> None:
        self.show = not quiet and sys.stderr.isatty()
        self.last = -1

    def __call__(self, done: int, total: int, message: str) -> None:
        if not self.show or total <= 0:
            return
        pct = int(100 * done / total)
        if pct == self.last:
            return
        self.last = pct
        sys.stderr.write(f"\r{pct:3d}% {message[:60]:<60}")
        sys.stderr.flush()

    def end(self) -> None:
        """Clear the progress line (before the result or an error line)."""
        if self.show and self.last >= 0:
            sys.stderr.write("\r" + " " * 66 + "\r")
            sys.stderr.flush()


def _run_tool(command: str, params: dict[str, Any], quiet: bool) -> int:
    module, func = TOOLS[command][0].split(":")
    return getattr(importlib.import_module(module), func)(params, quiet)


def main(argv: list[str] | None = None) -> int:
    if not os.environ.get("POSETALK_DEBUG"):
        warnings.simplefilter("ignore")  # library warnings would break the one-line promise of stderr
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from .worker import serve

        return serve()
    progress = _StderrProgress(args.quiet)
    job = Job("cli", progress)
    try:
        if args.command in TOOLS:
            return _run_tool(args.command, params_from_args(args), args.quiet)
        result = run_op(args.command, params_from_args(args), job)
    except EngineError as exc:
        progress.end()
        sys.stderr.write(f"error: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        progress.end()
        sys.stderr.write("error: interrupted\n")
        return 130
    except Exception as exc:  # a fault of the engine, not of the input: one line, details with POSETALK_DEBUG=1
        progress.end()
        if os.environ.get("POSETALK_DEBUG"):
            raise
        sys.stderr.write(f"error: internal engine error: {type(exc).__name__}: {exc}\n")
        return 1
    progress.end()
    if result.get("warning"):
        sys.stderr.write(f"warning: {result['warning']}\n")
    path = result.get("path") or result.get("video") or result.get("frames_dir")
    if path and not args.quiet:
        sys.stderr.write(f"wrote {path}\n")
    return 0
