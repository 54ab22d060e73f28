"""Checks shared by every weights loader, without torch: a file is refused unless it is well-formed safetensors
(pickles and zip checkpoints get their own message), and the metadata's JSON strings are decoded."""

from __future__ import annotations

import json
import os
import struct

from .errors import BadInput


def check_header(path: str) -> None:
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


def decode_metadata(raw: dict[str, str] | None) -> dict[str, object]:
    """Metadata values as stored by the training scripts (JSON strings), decoded; other strings kept as they are."""
    meta: dict[str, object] = {}
    for key, value in (raw or {}).items():
        try:
            meta[key] = json.loads(value)
        except json.JSONDecodeError:
            meta[key] = value
    return meta
