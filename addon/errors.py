"""The add-on's one error type for bad input found on the Blender side."""

from __future__ import annotations


class UserError(Exception):
    """Bad input (a missing strip, file or head, a wrong setting): reported as one clear line, nothing changed."""
