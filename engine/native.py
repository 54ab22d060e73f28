"""Native libraries kept quiet: their own log lines never reach the user's terminal.

mediapipe/TFLite print "INFO: Created TensorFlow Lite XNNPACK delegate" and glog warnings, and the MP3 decoder
behind libsndfile prints "Note: Illegal Audio-MPEG-Header" on broken files, straight to file descriptor 2 from
C code. The engine promises one line on stderr (its own message), so those calls run inside :func:`quiet_stderr`,
and mediapipe is imported through :func:`mediapipe` with its log levels turned down first.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from types import ModuleType

_lock = threading.RLock()
_depth = 0
_saved_fd: int | None = None

# glog (mediapipe) and TensorFlow's own log levels: errors only (read when the libraries load)
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration (re-entrant; ``POSETALK_DEBUG=1`` keeps it).

    Only native calls go inside: the engine's own messages are written after it ends.
    """
    global _depth, _saved_fd
    if os.environ.get("POSETALK_DEBUG"):
        yield
        return
    with _lock:
        if _depth == 0:
            _saved_fd = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved_fd is not None:
                os.dup2(_saved_fd, 2)
                os.close(_saved_fd)
                _saved_fd = None


def mediapipe() -> ModuleType:
    """The mediapipe module, imported quietly (its first import loads TFLite and prints)."""
    with quiet_stderr():
        import mediapipe as mp  # noqa: PLC0415 (slow import, only when needed)
    return mp
