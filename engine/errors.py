"""Errors the engine reports to users: one clear line, a stable code, an exit status."""

from __future__ import annotations


class EngineError(Exception):
    """An error with a stable machine-readable code and a one-line message.

    ``exit_code`` is what the CLI exits with: 2 for bad input, 1 for engine faults.
    """

    code = "engine_error"
    exit_code = 1

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class BadInput(EngineError):
    """The user's input (file, prompt, option) cannot be used; nothing was written."""

    code = "bad_input"
    exit_code = 2


class Cancelled(EngineError):
    """The job was cancelled by its caller."""

    code = "cancelled"
    exit_code = 130
