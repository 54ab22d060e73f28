"""Weights of the PLD: ``.safetensors`` only, with metadata (config, corpus seed, steps, git commit).

Loading refuses anything that is not a well-formed safetensors file (pickles,
zip archives, truncated or corrupt files) with one clear BadInput message.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile

import torch

from ..errors import BadInput
from ..safetensors_file import check_header, decode_metadata

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights", "pld.safetensors")


def git_commit(root: str | None = None) -> str:
    """The checkout's git commit, with "+changes" where tracked files differ from it ("unknown" outside git).

    Training scripts read it when they start: the code that trains is the code loaded then."""
    cwd = root or os.path.dirname(DEFAULT_PATH)
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True).stdout.strip()
        if not head:
            return "unknown"
        status = ["git", "status", "--porcelain", "--untracked-files=no"]
        changed = subprocess.run(status, cwd=cwd, capture_output=True, text=True).stdout.strip()
        return head + ("+changes" if changed else "")
    except OSError:
        return "unknown"


def save_weights(path: str, tensors: dict[str, torch.Tensor], metadata: dict[str, object]) -> None:
    """Write ``tensors`` atomically as safetensors; metadata values are stored as JSON strings."""
    from safetensors.torch import save_file

    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".safetensors", dir=folder)
    os.close(fd)
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_weights(path: str = DEFAULT_PATH) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """(tensors, metadata) of a safetensors file; BadInput for a missing, pickle or corrupt file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        raise BadInput(f"pose model weights not found: {path}")
    if not path.endswith(".safetensors"):
        raise BadInput(f"refusing to load {path}: only .safetensors weights are loaded")
    check_header(path)
    try:
        from safetensors import safe_open

        with safe_open(path, framework="pt") as fh:
            raw_meta = fh.metadata() or {}
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise BadInput(f"weights file is corrupt: {path} ({exc})") from None
    meta = decode_metadata(raw_meta)
    for name, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise BadInput(f"weights file is corrupt: tensor {name} has non-finite values ({path})")
    return tensors, meta
