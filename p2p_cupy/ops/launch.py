"""Launch configurations shared by the ops' kernel branches.

Elementwise kernels loop with a grid stride (see kernels/activations.cu), so any grid covers
any n: the grid is capped at MAX_BLOCKS (enough blocks to fill a large GPU several times
over) and every element is still visited exactly once.
"""
from __future__ import annotations

import numpy as np

BLOCK = 256          # threads per block of the elementwise kernels (whole warps)
MAX_BLOCKS = 8192


def reduction_block(m: int):
    """(threads,) for the kernels that give one block to each reduction of m values (batch
    norm's channels, a loss): one thread per value up to 1024 (the hardware's limit), in
    whole warps. Big channels get 32 warps to keep the memory system busy while few blocks
    run; small ones get few threads, none idle (and the emulator runs fewer fibers)."""
    return (min(1024, max(32, -(-m // 32) * 32)),)


def grid_1d(n: int):
    """(grid, block) for a grid-stride kernel over n elements."""
    return (max(1, min(-(-n // BLOCK), MAX_BLOCKS)),), (BLOCK,)


def launch_1d(kernel, n: int, args):
    """Launch `kernel` over n elements with the 1-D configuration above."""
    grid, block = grid_1d(n)
    kernel(grid, block, args)


def output_for(xp, like, out):
    """The array a kernel writes its output into: `out` when the caller gave one and it is
    contiguous (a planned buffer, e.g. one half of a U-Net concat), else a new one."""
    return out if out is not None and out.flags.c_contiguous else xp.empty_like(like)


def deliver_output(y, out):
    """What an op with an `out` argument returns: y without `out`, else `out` (with y
    copied into it when the op could not write there itself)."""
    if out is None or y is out:
        return y
    from p2p_cupy import backend
    backend.current().copy(out, y)
    return out


def n_arg(n: int):
    """A count as the kernels' `long long` parameter."""
    return np.int64(n)
