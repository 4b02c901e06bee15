"""Keeping freed host memory for reuse (glibc's malloc), as the `p2p` command does.

One NumPy training step allocates and frees a few hundred arrays of up to tens of MB. By
default glibc serves a large block with its own mmap and hands it back to the kernel when
it is freed, so the next array of that size is fresh memory: every first touch of a page
faults and the kernel zeroes the page before NumPy writes it again. Raising malloc's mmap
and trim thresholds keeps freed blocks in its heap for the next array instead: minor page
faults per batch-1 step drop from ~2,500 to ~100 and the step gets ~5% faster
(benchmarks/NOTES.md). The price is the one PyTorch's caching allocator on the GPU pays:
the process keeps its peak memory until it exits.

It is process-wide, so the library never does it on import: `p2p train` calls
keep_freed_memory() at start-up, and a script can call it itself. PyTorch in the same
process gets the same allocator, and gains more from it than we do (15-30% per CPU
training step, NOTES.md): `p2p bench step` therefore runs both frameworks with glibc's
defaults unless given --keep-freed-memory, and records which in its JSON.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 30        # blocks below 1 GB come from the heap, not their own mmap
TRIM_THRESHOLD = (1 << 31) - 1  # never give freed heap memory back (C int maximum)

_applied = False


def applied() -> bool:
    """Whether keep_freed_memory has taken effect in this process."""
    return _applied


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed blocks for reuse; True when it applied (Linux with
    glibc), False where there is no such malloc (macOS, Windows, musl). Idempotent."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not hasattr(libc, "gnu_get_libc_version"):   # musl has a mallopt that does nothing
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _applied
