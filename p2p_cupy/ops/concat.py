"""Channel concatenation (the U-Net's skip connections) and its gradient, a split.

    y = cat([x_1, ..., x_k], axis=1)      dx_i = dy[:, offset_i : offset_i + C_i]
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend
from p2p_cupy.ops.launch import BLOCK, PACK_ITEMS, cap_yz, grid_1d, n_arg


def _slice_launch(kernel, arrays, part_channels, total_channels, start_channel, n, hw):
    """Launch kernels/concat.cu's `kernel` for one input's channel slice: grid x the run
    of part_channels*hw elements of one image (PACK_ITEMS per thread), y the images."""
    run = part_channels * hw
    grid = (grid_1d(run, PACK_ITEMS)[0][0], cap_yz(n))
    kernel(grid, (BLOCK,), arrays + (np.int32(n), n_arg(run), n_arg(total_channels * hw),
                                     n_arg(start_channel * hw)))


def concat_forward(arrays):
    """(y, cache): arrays (N, C_i, H, W) joined along channels; cache = the C_i."""
    first = arrays[0]
    bk = backend.of(first)
    xp = bk.xp
    for a in arrays:
        if a.ndim != 4 or a.shape[0] != first.shape[0] or a.shape[2:] != first.shape[2:] \
                or a.dtype != first.dtype:
            raise ValueError("concat: inputs must be (N, C_i, H, W) of one N, H, W and dtype; "
                             f"got {[(tuple(b.shape), str(b.dtype)) for b in arrays]}")
    channels = tuple(a.shape[1] for a in arrays)
    if bk.uses_kernels:   # one copy kernel per input, into its channel slice
        n, _, h, w = first.shape
        y = xp.empty((n, sum(channels), h, w), first.dtype)
        start = 0
        for a in arrays:
            _slice_launch(bk.kernel("concat", "concat_fwd", a.dtype), (xp.ascontiguousarray(a), y),
                          a.shape[1], y.shape[1], start, n, h * w)
            start += a.shape[1]
        return y, channels
    return xp.concatenate(arrays, axis=1), channels


def concat_backward(dy, cache):
    """The tuple of input gradients: the C-contiguous channel slices of dy (views of dy
    when N == 1, where a slice already is contiguous; copies otherwise)."""
    bk = backend.of(dy)
    xp = bk.xp
    grads, start = [], 0
    if bk.uses_kernels and dy.shape[0] > 1:   # one copy kernel per gradient, out of its slice
        dy = xp.ascontiguousarray(dy)
        n, total, h, w = dy.shape
        for channels in cache:
            dx = xp.empty((n, channels, h, w), dy.dtype)
            _slice_launch(bk.kernel("concat", "concat_bwd", dy.dtype), (dy, dx), channels, total,
                          start, n, h * w)
            grads.append(dx)
            start += channels
        return tuple(grads)
    for channels in cache:
        grads.append(xp.ascontiguousarray(dy[:, start:start + channels]))
        start += channels
    return tuple(grads)
