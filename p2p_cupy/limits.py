"""How much memory a file may make us allocate before we have checked it.

A checkpoint declares the shapes of its arrays; a crafted one can declare a terabyte in a
few bytes. Every reader of untrusted files (the PyTorch .pth reader, the .npz checkpoint
reader) charges what it is about to allocate to one ByteBudget and refuses the file, with
one line naming it, when the budget is exceeded. The default fits any pix2pix model with
room to spare (unet_256 with both Adam states is 0.7 GB); the environment variable
P2P_MAX_LOAD_BYTES raises or lowers it for every command ("8G", "500M" or a plain count).
"""
from __future__ import annotations

import os

from p2p_cupy.errors import P2PError

MAX_LOAD_BYTES_ENV = "P2P_MAX_LOAD_BYTES"
DEFAULT_MAX_LOAD_BYTES = 4 << 30
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class LimitExceeded(P2PError, ValueError):
    """A file would need more memory than the limit allows."""


def parse_bytes(text: str) -> int:
    """"8G" -> 8 GiB, "500M", "123" (bytes); ValueError for anything else."""
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = (text[:-1], text[-1]) if text[-1:] in UNITS else (text, "")
    value = float(number) * UNITS[unit]
    if not value >= 0:
        raise ValueError(f"not a byte count: {text!r}")
    return int(value)


def max_load_bytes() -> int:
    """The limit in force: P2P_MAX_LOAD_BYTES if set, else 4 GiB."""
    raw = os.environ.get(MAX_LOAD_BYTES_ENV)
    if not raw:
        return DEFAULT_MAX_LOAD_BYTES
    try:
        return parse_bytes(raw)
    except ValueError:
        raise P2PError(f"{MAX_LOAD_BYTES_ENV}={raw!r}: expected a byte count such as 8G, "
                       "500M or 123456") from None


class ByteBudget:
    """Bytes a reader may still allocate for one file; take() before each allocation."""

    def __init__(self, source, limit: int | None = None):
        self.source = source
        self.limit = max_load_bytes() if limit is None else int(limit)
        self.left = self.limit

    def take(self, nbytes: int, what: str):
        if nbytes > self.left:
            raise LimitExceeded(
                f"{self.source}: {what} would need {nbytes:,} bytes, more than the "
                f"{self.limit:,} bytes this file may use (set {MAX_LOAD_BYTES_ENV}, e.g. "
                f"{MAX_LOAD_BYTES_ENV}=16G, to allow more)")
        self.left -= nbytes
