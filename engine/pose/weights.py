"""Weights of the PLD: ``.safetensors`` only, with metadata (config, corpus seed, steps, git commit).

Loading refuses anything that is not a well-formed safetensors file (pickles,
zip archives, truncated or corrupt files) with one clear BadInput message.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import tempfile

import torch

from ..errors import BadInput

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights", "pld.safetensors")


def git_commit(root: str | None = None) -> str:
    """Current git commit of the checkout ("unknown" outside git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root or os.path.dirname(DEFAULT_PATH), capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
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


def _check_header(path: str) -> None:
    """A safetensors file starts with an 8-byte little-endian header size and then a JSON object."""
    with open(path, "rb") as fh:
        head = fh.read(9)
        size = os.fstat(fh.fileno()).st_size
    if len(head) == 9:
        (n,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and 0 < n and 8 + n <= size:
            return
    # a pickle starts with PROTO (0x80) and its protocol number; a safetensors header size can start with 0x80 too
    pickled = head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
    if head[8:9] != b"{" and (head[:2] == b"PK" or pickled):
        raise BadInput(f"refusing to load {path}: it is a pickle/zip checkpoint; only .safetensors weights are loaded")
    raise BadInput(f"weights file is corrupt or not safetensors: {path}")


def load_weights(path: str = DEFAULT_PATH) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """(tensors, metadata) of a safetensors file; BadInput for a missing, pickle or corrupt file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        raise BadInput(f"pose model weights not found: {path}")
    if not path.endswith(".safetensors"):
        raise BadInput(f"refusing to load {path}: only .safetensors weights are loaded")
    _check_header(path)
    try:
        from safetensors import safe_open

        with safe_open(path, framework="pt") as fh:
            raw_meta = fh.metadata() or {}
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise BadInput(f"weights file is corrupt: {path} ({exc})") from None
    meta: dict[str, object] = {}
    for key, value in raw_meta.items():
        try:
            meta[key] = json.loads(value)
        except json.JSONDecodeError:
            meta[key] = value
    for name, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise BadInput(f"weights file is corrupt: tensor {name} has non-finite values ({path})")
    return tensors, meta
