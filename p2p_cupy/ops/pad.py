"""Reflection padding (the ResNet generator's borders) and its gradient, NCHW.

    y[n, c, r, q] = x[n, c, reflect(r - p, H), reflect(q - p, W)]     y: (N, C, H + 2p, W + 2p)
    reflect(t, S) = -t for t < 0,  2(S - 1) - t for t >= S,  else t   (needs p <= S - 1)

The edge row is not repeated: with p = 2 a row 0 1 2 3 becomes 2 1 0 1 2 3 2 1.
Backward: dx[i] = sum of dy[o] over every output position o with reflect(o - p) = i, i.e.
the centre block of dy plus its mirrored borders folded back onto the rows and columns
they copied. The cache is only the geometry (H, W, p).
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend
from p2p_cupy.ops.launch import check_int32, plane_grid


def reflection_pad2d_forward(x, padding):
    """(y, cache): x (N, C, H, W) mirrored `padding` pixels deep on all four sides."""
    _check(x, padding)
    h, w = x.shape[2:]
    bk = backend.of(x)
    if bk.uses_kernels:   # kernels/pad.cu: one thread per output pixel, a gather
        x = bk.xp.ascontiguousarray(x)
        y = bk.xp.empty(x.shape[:2] + (h + 2 * padding, w + 2 * padding), x.dtype)
        _launch(bk, "reflect_pad_fwd", y, (x, y), h, w, padding)
        return y, (h, w, padding)
    pads = ((0, 0), (0, 0), (padding, padding), (padding, padding))
    return bk.xp.pad(x, pads, mode="reflect"), (h, w, padding)


def reflection_pad2d_backward(dy, cache):
    """dx (N, C, H, W): every output pixel's gradient added onto the input pixel it copied."""
    h, w, padding = cache
    bk = backend.of(dy)
    if bk.uses_kernels:   # each input pixel gathers the (at most 3 x 3) pixels that read it
        dy = bk.xp.ascontiguousarray(dy)
        dx = bk.xp.empty(dy.shape[:2] + (h, w), dy.dtype)
        _launch(bk, "reflect_pad_bwd", dx, (dy, dx), h, w, padding)
        return dx
    return _fold_borders(_fold_borders(dy, 2, h, padding), 3, w, padding)


def _launch(bk, name, written, arrays, h, w, padding):
    """One of kernels/pad.cu's gathers on the plane grid: a thread per pixel of `written`."""
    n, c, out_h, out_w = written.shape
    check_int32("reflection_pad2d", plane=(h + 2 * padding) * (w + 2 * padding))
    grid, block = plane_grid(out_h * out_w, c, n)
    bk.kernel("pad", name, written.dtype)(grid, block, (*arrays, np.int32(n), np.int32(c),
                                                        np.int32(h), np.int32(w),
                                                        np.int32(padding)))


def _fold_borders(dy, axis, size, p):
    """Along one axis (of length size + 2p): the centre `size` entries plus the mirrored
    borders added back where they were copied from. Leading output entry o < p copied
    input p - o (inputs p..1); trailing entry p + size + t copied input size - 2 - t."""
    def span(start, stop, step=1):
        index = [slice(None)] * dy.ndim
        index[axis] = slice(start, stop, step)
        return tuple(index)
    dx = dy[span(p, p + size)].copy()
    if p:
        dx[span(1, p + 1)] += dy[span(p - 1, None, -1)]
        dx[span(size - 1 - p, size - 1)] += dy[span(p + size, None)][span(None, None, -1)]
    return dx


def _check(x, padding):
    if x.ndim != 4:
        raise ValueError(f"reflection_pad2d: expected a 4-D input (N, C, H, W), got shape "
                         f"{tuple(x.shape)}")
    if padding < 0 or padding >= min(x.shape[2:]):
        raise ValueError(f"reflection_pad2d: padding {padding} needs height and width of at "
                         f"least {padding + 1}, got {tuple(x.shape[2:])}")
