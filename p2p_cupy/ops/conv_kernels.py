"""The kernel path (cuda, emu) of ops/conv.py: kernels/conv.cu rearranges, bk.gemm
multiplies (cuBLAS on cuda, NumPy on emu).

The same three GEMMs as the NumPy path (see conv.py for the math), with the batch folded
into one GEMM: (C, N*H*W) row layouts, so NCHW arrays are transposed into and out of them.
im2col and col2im (conv.cu's im2col_fwd / im2col_bwd) are gathers: deterministic, no atomics;
pix2pix's 4x4 convs get their unrolled variants (_k4s2, _k4s1). A 4x4 conv with ONE output
channel (PatchGAN's last layer) has no useful GEMM, so it runs conv_one_out.cu's direct
kernels instead, without a column matrix. Each function takes the backend and the shapes
conv.py already worked out.

conv2d's forward keeps its im2col columns for the backward's weight gradient: one im2col
launch (and its pass over memory) fewer per backward, for the columns' memory meanwhile.
Weight and bias gradients go straight into the parameters' .grad when the layer passes
`grads_into` (ops/grad_into.py): the weight GEMM accumulates there, the reduction kernels
write there (or add, with their accumulate flag).
"""
from __future__ import annotations

import numpy as np

from p2p_cupy.ops.grad_into import gemm_into, kernel_into
from p2p_cupy.ops.launch import (BLOCK, MAX_GRID_YZ, TARGET_BLOCKS, check_int32, plane_grid,
                                  reduction_block)


def conv2d_forward(bk, x, w, b, stride, padding, out_hw):
    """(y, cols) of conv2d: y = w @ im2col(x), then the bias; cols = im2col(x), kept for
    the weight gradient (None for one output channel: conv_one_out.cu, no columns)."""
    k = w.shape[2]
    if _one_output_channel(w):
        return _one_out_forward(bk, x, w, b, stride, padding, out_hw), None
    cols = _im2col(bk, x, k, stride, padding, out_hw)
    y = _from_rows(bk, bk.gemm(w.reshape(w.shape[0], -1), cols), x.shape[0], out_hw)
    _add_bias(bk, y, b)
    return y, cols


def conv2d_backward(bk, dy, cache, need_weight_grad, need_input_grad, grads_into):
    x, w, stride, padding, has_bias, cols = cache
    k = w.shape[2]
    if _one_output_channel(w):
        return _one_out_backward(bk, dy, cache, need_weight_grad, need_input_grad,
                                 grads_into)
    dy_rows = _rows(bk, dy)
    dx = None
    if need_input_grad:   # dx = col2im(w^T @ dy)
        dx = _col2im(bk, bk.gemm(w.reshape(w.shape[0], -1).T, dy_rows), x.shape,
                     k, stride, padding, dy.shape[2:])
    if not need_weight_grad:
        return dx, None, None
    dw = gemm_into(bk, dy_rows, cols.T, grads_into[0], w.shape)   # dw = dy @ im2col(x)^T
    return dx, dw, (_bias_grad(bk, dy, grads_into[1]) if has_bias else None)


def conv_transpose2d_forward(bk, x, w, b, stride, padding, out_shape):
    """y of conv_transpose2d: col2im(w^T @ x), then the bias."""
    k = w.shape[2]
    cols = bk.gemm(w.reshape(w.shape[0], -1).T, _rows(bk, x))   # w^T @ x
    y = _col2im(bk, cols, out_shape, k, stride, padding, x.shape[2:])
    _add_bias(bk, y, b)
    return y


def conv_transpose2d_backward(bk, dy, cache, need_weight_grad, need_input_grad, grads_into):
    x, w, stride, padding, has_bias = cache
    cols = _im2col(bk, dy, w.shape[2], stride, padding, x.shape[2:])
    dx = None
    if need_input_grad:   # dx = w @ im2col(dy)
        dx = _from_rows(bk, bk.gemm(w.reshape(w.shape[0], -1), cols), x.shape[0],
                        x.shape[2:])
    if not need_weight_grad:
        return dx, None, None
    dw = gemm_into(bk, _rows(bk, x), cols.T, grads_into[0], w.shape)  # x @ im2col(dy)^T
    return dx, dw, (_bias_grad(bk, dy, grads_into[1]) if has_bias else None)


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


def _col2im(bk, cols, x_shape, k, stride, padding, grid_hw):
    """x of x_shape, as conv.py's _col2im, by conv.cu's im2col_bwd: each pixel gathers its
    column entries (4x4 stride 2: each thread a 2x2 group of pixels). grid_hw: the conv's
    output size (the columns' grid of positions), which the caller's arrays carry."""
    n, c, h, w = x_shape
    x = bk.xp.empty(x_shape, cols.dtype)
    variant = _specialised(k, stride)
    items = ((h + padding + 1) // 2) * ((w + padding + 1) // 2) if variant == "_k4s2" else h * w
    grid, block = plane_grid(items, c, n)
    bk.kernel("conv", "im2col_bwd" + variant, cols.dtype)(
        grid, block, (bk.xp.ascontiguousarray(cols), x)
        + _conv_geometry(n, c, h, w, k, stride, padding, grid_hw))
    return x


# --- one output channel (PatchGAN's last conv): kernels/conv_one_out.cu, no columns ------

def _one_output_channel(w):
    return w.shape[0] == 1 and w.shape[2] == w.shape[3] == 4


def _one_out_geometry(x_shape, stride, padding, out_hw):
    n, c, h, w = x_shape
    check_int32("conv", plane=h * w, output_pixels=n * out_hw[0] * out_hw[1])
    if max(n, c, out_hw[0]) > MAX_GRID_YZ:
        raise ValueError(f"conv: batch {n}, channels {c} or output height {out_hw[0]} exceeds "
                         f"the kernels' grid limit {MAX_GRID_YZ}")
    return tuple(np.int32(v) for v in (n, c, h, w, stride, padding, *out_hw))


def _one_out_forward(bk, x, w, b, stride, padding, out_hw):
    """y = a dot product per output pixel: block (32, 8) = 32 pixels x 8 channel groups."""
    x = bk.xp.ascontiguousarray(x)
    y = bk.xp.empty((x.shape[0], 1) + tuple(out_hw), x.dtype)
    bias = b if b is not None else bk.constant(0.0, x.dtype)   # unread: has_bias = 0
    grid = (-(-out_hw[1] // 32), out_hw[0], x.shape[0])
    bk.kernel("conv_one_out", "conv_one_out_fwd", x.dtype)(
        grid, (32, 8), (x, bk.xp.ascontiguousarray(w), bias, np.int32(b is not None), y)
        + _one_out_geometry(x.shape, stride, padding, out_hw))
    return y


def _one_out_backward(bk, dy, cache, need_weight_grad, need_input_grad, grads_into):
    """dx by a gather per x element; dw by per-slice partial sums, then their ordered sum
    (written or added into the .grad when given one)."""
    x, w, stride, padding, has_bias, _ = cache
    x, dy, w = (bk.xp.ascontiguousarray(a) for a in (x, dy, w))
    n, c, h, wd = x.shape
    geometry = _one_out_geometry(x.shape, stride, padding, dy.shape[2:])
    dx = dw = None
    if need_input_grad:
        dx = bk.xp.empty_like(x)
        grid, block = plane_grid(h * wd, c, n)
        bk.kernel("conv_one_out", "conv_one_out_dx", x.dtype)(grid, block, (dy, w, dx) + geometry)
    if not need_weight_grad:
        return dx, None, None
    slices = one_out_slices(n * dy.shape[2], c)
    partial = bk.xp.empty((c, slices, 16), np.float64)
    bk.kernel("conv_one_out", "conv_one_out_dw_partial", x.dtype)(
        (slices, c), (32, 8), (x, dy, partial) + geometry)

    def write(dw, accumulate):
        dw = bk.xp.empty(w.shape, x.dtype) if dw is None else dw
        bk.kernel("conv_one_out", "conv_one_out_dw_sum", x.dtype)(
            (-(-dw.size // BLOCK),), (BLOCK,),
            (partial, dw, np.int32(c), np.int32(slices), np.int32(accumulate)))
        return dw
    dw = kernel_into(bk, write, grads_into[0])
    return dx, dw, (_bias_grad(bk, dy, grads_into[1]) if has_bias else None)


def one_out_slices(rows, channels):
    """Slices of the N*Ho output rows for the partial dw sums: enough blocks (with the
    channels) to fill a large GPU, at least 8 rows (one per warp) each."""
    return max(1, min(-(-rows // 8), -(-TARGET_BLOCKS // channels)))


def _rows(bk, a):
    """(N, C, H, W) -> (C, N*H*W): a view when N == 1, else a transposing copy (made by
    ascontiguousarray, as the reshape would, so the recording backend sees it)."""
    n, c, h, w = a.shape
    return bk.xp.ascontiguousarray(a.transpose(1, 0, 2, 3)).reshape(c, n * h * w)


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


def _bias_grad(bk, dy, into=None):
    """db[o] = sum over n, h, w of dy: one block per channel (conv.cu's bias_bwd), into
    the target `into` (ops/grad_into.py) or returned."""
    dy = bk.xp.ascontiguousarray(dy)
    n, c, h, w = dy.shape

    def write(db, accumulate):
        db = bk.xp.empty(c, dy.dtype) if db is None else db
        bk.kernel("conv", "bias_bwd", dy.dtype)((c,), reduction_block(n * h * w), (
            dy, db, np.int32(n), np.int32(c), np.int32(h * w), np.int32(accumulate)))
        return db
    return kernel_into(bk, write, into)
