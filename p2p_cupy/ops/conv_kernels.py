"""The kernel path (cuda, emu) of ops/conv.py: kernels/conv.cu rearranges, bk.xp.matmul
multiplies (cuBLAS on cuda, NumPy on emu).

The same three GEMMs as the NumPy path (see conv.py for the math), with the batch folded
into one GEMM: (C, N*H*W) row layouts, so NCHW arrays are transposed into and out of them.
im2col and col2im (conv.cu's im2col_fwd / im2col_bwd) are gathers: deterministic, no atomics.
Each function takes the backend and the shapes conv.py already worked out.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy.ops.launch import check_int32, plane_grid, reduction_block


def conv2d_forward(bk, x, w, b, stride, padding, out_hw):
    """y of conv2d: w @ im2col(x), then the bias."""
    k = w.shape[2]
    cols = _im2col(bk, x, k, stride, padding, out_hw)
    y = _from_rows(bk, bk.xp.matmul(w.reshape(w.shape[0], -1), cols), x.shape[0], out_hw)
    _add_bias(bk, y, b)
    return y


def conv2d_backward(bk, dy, cache, need_weight_grad, need_input_grad):
    x, w, stride, padding, has_bias = cache
    k = w.shape[2]
    dy_rows = _rows(dy)
    dx = None
    if need_input_grad:   # dx = col2im(w^T @ dy)
        dx = _col2im(bk, bk.xp.matmul(w.reshape(w.shape[0], -1).T, dy_rows), x.shape,
                     k, stride, padding)
    if not need_weight_grad:
        return dx, None, None
    cols = _im2col(bk, x, k, stride, padding, dy.shape[2:])
    dw = bk.xp.matmul(dy_rows, cols.T).reshape(w.shape)       # dw = dy @ im2col(x)^T
    return dx, dw, (_bias_grad(bk, dy) if has_bias else None)


def conv_transpose2d_forward(bk, x, w, b, stride, padding, out_shape):
    """y of conv_transpose2d: col2im(w^T @ x), then the bias."""
    k = w.shape[2]
    cols = bk.xp.matmul(w.reshape(w.shape[0], -1).T, _rows(x))   # w^T @ x
    y = _col2im(bk, cols, out_shape, k, stride, padding)
    _add_bias(bk, y, b)
    return y


def conv_transpose2d_backward(bk, dy, cache, need_weight_grad, need_input_grad):
    x, w, stride, padding, has_bias = cache
    cols = _im2col(bk, dy, w.shape[2], stride, padding, x.shape[2:])
    dx = None
    if need_input_grad:   # dx = w @ im2col(dy)
        dx = _from_rows(bk, bk.xp.matmul(w.reshape(w.shape[0], -1), cols), x.shape[0],
                        x.shape[2:])
    if not need_weight_grad:
        return dx, None, None
    dw = bk.xp.matmul(_rows(x), cols.T).reshape(w.shape)   # dw = x @ im2col(dy)^T
    return dx, dw, (_bias_grad(bk, dy) if has_bias else None)


def _conv_geometry(n, c, h, w, k, stride, padding, out_hw):
    """kernels/conv.cu's (n, channels, h, w, k, stride, pad, ho, wo) arguments, after
    checking that the kernels' 32-bit indices cover the plane, the column row and the
    column matrix's row count."""
    check_int32("conv", pixels_of_the_batch=n * out_hw[0] * out_hw[1], plane=h * w,
                column_rows=c * k * k)
    return tuple(np.int32(v) for v in (n, c, h, w, k, stride, padding, out_hw[0], out_hw[1]))


def _specialised(k, stride):
    """The suffix of conv.cu's unrolled kernels for pix2pix's 4x4 convs ('' = generic)."""
    return f"_k4s{stride}" if k == 4 and stride in (1, 2) else ""


def _im2col(bk, x, k, stride, padding, out_hw):
    """cols (C*k*k, N*Ho*Wo), as conv.py's _im2col, by conv.cu's im2col_fwd: grid x the
    output pixels of an image, y (channel, tap row), z the images."""
    x = bk.xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    cols = bk.xp.empty((c * k * k, n * out_hw[0] * out_hw[1]), x.dtype)
    grid, block = plane_grid(out_hw[0] * out_hw[1], c * k, n)
    bk.kernel("conv", "im2col_fwd" + _specialised(k, stride), x.dtype)(
        grid, block, (x, cols) + _conv_geometry(n, c, h, w, k, stride, padding, out_hw))
    return cols


def _col2im(bk, cols, x_shape, k, stride, padding):
    """x of x_shape, as conv.py's _col2im, by conv.cu's im2col_bwd: each pixel gathers its
    column entries (4x4 stride 2: each thread a 2x2 group of pixels)."""
    n, c, h, w = x_shape
    grid_hw = ((h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1)
    x = bk.xp.empty(x_shape, cols.dtype)
    variant = _specialised(k, stride)
    items = ((h + padding + 1) // 2) * ((w + padding + 1) // 2) if variant == "_k4s2" else h * w
    grid, block = plane_grid(items, c, n)
    bk.kernel("conv", "im2col_bwd" + variant, cols.dtype)(
        grid, block, (bk.xp.ascontiguousarray(cols), x)
        + _conv_geometry(n, c, h, w, k, stride, padding, grid_hw))
    return x


def _rows(a):
    """(N, C, H, W) -> (C, N*H*W) (a view when N == 1)."""
    n, c, h, w = a.shape
    return a.transpose(1, 0, 2, 3).reshape(c, n * h * w)


def _from_rows(bk, rows, n, hw):
    """(C, N*H*W) -> contiguous (N, C, H, W)."""
    return bk.xp.ascontiguousarray(rows.reshape(rows.shape[0], n, hw[0], hw[1])
                                   .transpose(1, 0, 2, 3))


def _add_bias(bk, y, b):
    if b is not None:
        n, c, h, w = y.shape
        grid, block = plane_grid(h * w, c, n)
        bk.kernel("conv", "bias_fwd", y.dtype)(grid, block,
                                               (y, b, np.int32(n), np.int32(c), np.int32(h * w)))


def _bias_grad(bk, dy):
    """db[o] = sum over n, h, w of dy: one block per channel (conv.cu's bias_bwd)."""
    dy = bk.xp.ascontiguousarray(dy)
    n, c, h, w = dy.shape
    db = bk.xp.empty(c, dy.dtype)
    bk.kernel("conv", "bias_bwd", dy.dtype)((c,), reduction_block(n * h * w),
                                            (dy, db, np.int32(n), np.int32(c), np.int32(h * w)))
    return db
