"""Channel concatenation (the U-Net's skip connections) and its gradient, a split.

    y = cat([x_1, ..., x_k], axis=1)      dx_i = dy[:, offset_i : offset_i + C_i]
"""
from __future__ import annotations

from p2p_cupy import backend


def concat_forward(arrays):
    """(y, cache): arrays (N, C_i, H, W) joined along channels; cache = the C_i."""
    xp = backend.current().xp
    first = arrays[0]
    for a in arrays:
        if a.ndim != 4 or a.shape[0] != first.shape[0] or a.shape[2:] != first.shape[2:] \
                or a.dtype != first.dtype:
            raise ValueError("concat: inputs must be (N, C_i, H, W) of one N, H, W and dtype; "
                             f"got {[(tuple(b.shape), str(b.dtype)) for b in arrays]}")
    return xp.concatenate(arrays, axis=1), tuple(a.shape[1] for a in arrays)


def concat_backward(dy, cache):
    """The tuple of input gradients: the C-contiguous channel slices of dy (views of dy
    when N == 1, where a slice already is contiguous; copies otherwise)."""
    xp = backend.current().xp
    grads, start = [], 0
    for channels in cache:
        grads.append(xp.ascontiguousarray(dy[:, start:start + channels]))
        start += channels
    return tuple(grads)
