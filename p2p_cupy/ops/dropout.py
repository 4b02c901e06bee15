"""Dropout with counter-based masks: mask = f(seed, step, element index), see philox.py.

    y = x * m,  dx = dy * m,   m_i = 1 / (1 - p) if element i is kept, else 0
The cache is m itself (in x's dtype), so backward is one multiply.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend, philox
from p2p_cupy.ops.launch import PACK_ITEMS, deliver_output, launch_1d, n_arg, output_for


def dropout_forward(x, p, seed, step, placement=(0, 1), out=None):
    """(y, mask); step may be an int or the 0-d integer array that Dropout keeps; y is
    written into `out` when given. placement = (offset, stride): x's sample n is sample
    offset + n * stride of the batch whose masks it takes (philox.placed_keep_mask);
    (0, 1) is x itself."""
    bk = backend.of(x)
    offset, stride = placement
    if bk.uses_kernels:   # kernels/dropout.cu: the same Philox words, computed per element
        x = bk.xp.ascontiguousarray(x)
        y, mask = output_for(bk.xp, x, out), bk.xp.empty_like(x)
        per_sample = x.size // x.shape[0] if x.ndim and x.shape[0] else max(x.size, 1)
        launch_1d(bk.kernel("dropout", "dropout_fwd", x.dtype), -(-x.size // 4),
                  (x, y, mask, n_arg(x.size), np.uint64(int(seed) % 2**64),
                   bk.xp.asarray(step, dtype=np.int64).reshape(1),   # read on the device
                   np.uint32(philox.keep_threshold(p)),
                   x.dtype.type(1.0 / (1.0 - p)),
                   np.int64(per_sample), np.int64(offset), np.int64(stride)))
        return deliver_output(y, out), mask
    if (offset, stride) == (0, 1):
        keep = philox.dropout_keep_mask(x.size, p, int(seed), int(step)).reshape(x.shape)
    else:
        keep = philox.placed_keep_mask(x.shape, p, int(seed), int(step), placement)
    mask = bk.asarray(keep, dtype=x.dtype)
    mask *= x.dtype.type(1.0 / (1.0 - p))
    return deliver_output(x * mask, out), mask


def dropout_backward(dy, cache):
    bk = backend.of(dy)
    if bk.uses_kernels:
        dy = bk.xp.ascontiguousarray(dy)
        dx = bk.xp.empty_like(dy)
        launch_1d(bk.kernel("dropout", "dropout_bwd", dy.dtype), dy.size,
                  (dy, cache, dx, n_arg(dy.size)), PACK_ITEMS)
        return dx
    return dy * cache
