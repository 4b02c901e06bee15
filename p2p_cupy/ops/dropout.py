"""Dropout with counter-based masks: mask = f(seed, step, element index), see philox.py.

    y = x * m,  dx = dy * m,   m_i = 1 / (1 - p) if element i is kept, else 0
The cache is m itself (in x's dtype), so backward is one multiply.
"""
from __future__ import annotations

from p2p_cupy import backend, philox


def dropout_forward(x, p, seed, step):
    """(y, mask); step may be an int or the 0-d integer array that Dropout keeps."""
    bk = backend.current()
    keep = philox.dropout_keep_mask(x.size, p, int(seed), int(step)).reshape(x.shape)
    mask = bk.asarray(keep, dtype=x.dtype)
    mask *= x.dtype.type(1.0 / (1.0 - p))
    return x * mask, mask


def dropout_backward(dy, cache):
    return dy * cache
