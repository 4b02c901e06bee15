"""Convolution and transposed convolution (NCHW), forward and backward.

Shapes (k kernel size, s stride, p symmetric zero padding):

    conv2d            x (N, Cin, H, W), w (Cout, Cin, k, k) -> y (N, Cout, (H + 2p - k)//s + 1, ...)
    conv_transpose2d  x (N, Cin, H, W), w (Cin, Cout, k, k) -> y (N, Cout, (H-1)*s-2p+k+op, ...)

The transposed conv's output_padding op (< s) adds op rows and columns at the bottom and
right: the positions that the top-left padding p would otherwise crop there, so that with
k 3, s 2, p 1, op 1 an H x W input comes back at exactly 2H x 2W (ResNet's up-sampling).
They receive their taps like any other output row; everything else is unchanged, and the
backward needs nothing new (its im2col of dy is laid out on x's grid, whatever dy's size).

Each is a GEMM plus a rearrangement of the data (the batch's columns side by side; on the
CPU the GEMM runs per image into its own output block, on the GPU once for the batch: the
kernel path, cuda and emu, is ops/conv_kernels.py; this file is the NumPy path):

    conv:        y = w (Cout, Cin*k*k) @ im2col(x) (Cin*k*k, N*Ho*Wo)
    transposed:  y = col2im(w^T (Cout*k*k, Cin) @ x (Cin, N*H*W))

im2col copies each k x k window of the padded input into one column (a single strided
copy); col2im is its adjoint: every column entry is added back onto the pixel it came from,
one slice-add per kernel tap (k*k of them), deterministic and free of atomics.
Because col2im is the adjoint of im2col, the two ops are each other's input gradient:

    conv's dx       = col2im(w^T @ dy)  = conv_transpose2d(dy, w)
    transposed's dx = w @ im2col(dy)    = conv2d(dy, w)

and they share the weight gradient, dw = (gradient side) @ im2col(input side)^T.
The cache holds only x and w (plus the hyper-parameters); on the kernel path also
conv2d's im2col columns, which its weight gradient reuses.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from p2p_cupy import backend
from p2p_cupy.ops import conv_kernels
from p2p_cupy.ops.grad_into import deliver


def conv_output_size(size, k, stride, padding, transposed=False, output_padding=0):
    """Output length along one spatial dimension (the one formula, used everywhere):
        conv             (size + 2p - k) // s + 1        (< 1: the input is smaller than k)
        transposed conv  (size - 1) * s - 2p + k + op    (the input length of the conv it
                                                          undoes; op = output_padding < s)
    """
    if transposed:
        return (size - 1) * stride - 2 * padding + k + output_padding
    return (size + 2 * padding - k) // stride + 1


def _conv_out_hw(x_shape, k, stride, padding):
    """(Ho, Wo) of conv2d on an (N, C, H, W) input; a clear error when it is too small."""
    out_hw = tuple(conv_output_size(size, k, stride, padding) for size in x_shape[2:])
    if min(out_hw) < 1:
        raise ValueError(f"conv: input size {tuple(x_shape[2:])} with padding {padding} is "
                         f"smaller than the kernel size {k}")
    return out_hw


def conv2d_forward(x, w, b, stride, padding):
    """y[n, o, i, j] = b[o] + sum_{c,u,v} w[o, c, u, v] * x_pad[n, c, i*s + u, j*s + v]."""
    k = w.shape[2]
    out_hw = _conv_out_hw(x.shape, k, stride, padding)
    cache = (x, w, stride, padding, b is not None)
    bk = backend.of(x)
    if bk.uses_kernels:   # the cache keeps the columns (conv_kernels.py)
        y, cols = conv_kernels.conv2d_forward(bk, x, w, b, stride, padding, out_hw)
        return y, cache + (cols,)
    y = _conv_of_cols(_im2col(x, k, stride, padding, out_hw), w, x.shape[0], out_hw)
    _add_bias(y, b)
    return y, cache


def conv2d_backward(dy, cache, need_weight_grad=True, need_input_grad=True,
                    grads_into=(None, None)):
    """(dx, dw, db) of conv2d; dx, dw and db are None when not needed (or no bias), and
    dw, db also when delivered into the targets `grads_into` (ops/grad_into.py)."""
    bk = backend.of(dy)
    if bk.uses_kernels:
        return conv_kernels.conv2d_backward(bk, dy, cache, need_weight_grad, need_input_grad,
                                            grads_into)
    x, w, stride, padding, has_bias = cache
    # dx = col2im(w^T @ dy): the transposed conv of dy with the same w, at x's size
    dx = _transposed_conv(dy, w, stride, padding, x.shape) if need_input_grad else None
    if not need_weight_grad:
        return dx, None, None
    # dw[o, (c,u,v)] = sum_{n,i,j} dy[n, o, i, j] * x_pad[n, c, i*s + u, j*s + v]
    cols = _im2col(x, w.shape[2], stride, padding, dy.shape[2:])
    return (dx, deliver(_weight_grad(dy, cols, w.shape), grads_into[0]),
            _bias_grad(dy, has_bias, grads_into[1]))


def conv_transpose2d_forward(x, w, b, stride, padding, output_padding=0):
    """y = col2im(w^T @ x): x[n, c, i, j] * w[c, o, u, v] lands on y_pad[n, o, i*s + u, j*s + v]."""
    out_shape = _transposed_out_shape(x.shape, w.shape, stride, padding, output_padding)
    cache = (x, w, stride, padding, b is not None)
    bk = backend.of(x)
    if bk.uses_kernels:
        return conv_kernels.conv_transpose2d_forward(bk, x, w, b, stride, padding,
                                                     out_shape), cache
    y = _transposed_conv(x, w, stride, padding, out_shape)
    _add_bias(y, b)
    return y, cache


def _transposed_out_shape(x_shape, w_shape, stride, padding, output_padding):
    """(N, Cout, (H - 1)*s - 2p + k + op, (W - 1)*s - 2p + k + op)."""
    if not 0 <= output_padding < stride:
        raise ValueError(f"conv_transpose2d: output_padding must be in [0, stride {stride}), "
                         f"got {output_padding}")
    n, _, h, wd = x_shape
    _, cout, k, _ = w_shape
    return (n, cout) + tuple(conv_output_size(size, k, stride, padding, transposed=True,
                                              output_padding=output_padding)
                             for size in (h, wd))


def conv_transpose2d_backward(dy, cache, need_weight_grad=True, need_input_grad=True,
                              grads_into=(None, None)):
    """(dx, dw, db) of conv_transpose2d, as conv2d_backward's."""
    bk = backend.of(dy)
    if bk.uses_kernels:
        return conv_kernels.conv_transpose2d_backward(bk, dy, cache, need_weight_grad,
                                                      need_input_grad, grads_into)
    x, w, stride, padding, has_bias = cache
    # im2col(dy) serves both gradients; its output grid is exactly x's (H, W)
    cols = _im2col(dy, w.shape[2], stride, padding, x.shape[2:])
    # dx = w @ im2col(dy): the conv of dy with the same w
    dx = _conv_of_cols(cols, w, x.shape[0], x.shape[2:]) if need_input_grad else None
    if not need_weight_grad:
        return dx, None, None
    # dw[c, (o,u,v)] = sum_{n,i,j} x[n, c, i, j] * dy_pad[n, o, i*s + u, j*s + v]
    return (dx, deliver(_weight_grad(x, cols, w.shape), grads_into[0]),
            _bias_grad(dy, has_bias, grads_into[1]))


# --- the three GEMMs, each serving both ops ---------------------------------------------

def _conv_of_cols(cols, w, n, out_hw):
    """w (A, B, k, k) as (A, B*k*k) @ cols (B*k*k, N*Ho*Wo) -> (N, A, Ho, Wo).

    conv2d's forward (cols = im2col(x)) and conv_transpose2d's dx (cols = im2col(dy)).
    One GEMM per image, each writing its (A, Ho*Wo) block straight into y[n]: cols'
    columns are image-major, so image n's columns are a plain slice that BLAS reads with a
    row stride, and the result needs no (C, N) -> (N, C) transposing copy.
    """
    w_rows = w.reshape(w.shape[0], -1)
    pixels = out_hw[0] * out_hw[1]
    y = np.empty((n, w.shape[0]) + tuple(out_hw), dtype=cols.dtype)
    for i in range(n):
        _matmul(w_rows, cols[:, i * pixels:(i + 1) * pixels],
                out=y[i].reshape(w.shape[0], pixels))
    return y


def _transposed_conv(x, w, stride, padding, out_shape):
    """col2im(w^T @ x) for w (A, B, k, k), x (N, A, H, W) -> out_shape (N, B, Ho, Wo).

    conv_transpose2d's forward and conv2d's dx. The output shape is given, not derived:
    for conv2d's dx it is x's, one or more rows taller than (H-1)*s - 2p + k when
    (H_x + 2p - k) % s != 0 left rows of x that no window reached.
    """
    n, a, h, wd = x.shape
    b, k = w.shape[1], w.shape[2]
    if a == 1:
        # One input channel (D's last conv, in its dx): each column is w^T times one pixel,
        # an outer product. Building the (B*k*k, N*H*W) columns only for col2im to read
        # them back costs more than the adds, so each tap's slab is made where it is used.
        x_img = x.transpose(1, 0, 2, 3)                        # (1, N, H, W)
        return _col2im(lambda u, v: w[0, :, u, v, None, None, None] * x_img,
                       x.dtype, out_shape, k, stride, padding)
    w_t = w.reshape(a, -1).T  # (B*k*k, A), a transposed view: BLAS reads it as is
    pixels = h * wd
    cols = _scratch("cols", (w_t.shape[0], n * pixels), x.dtype)
    for i in range(n):        # image n fills its own block of columns: no transposing copy
        _matmul(w_t, x[i].reshape(a, pixels), out=cols[:, i * pixels:(i + 1) * pixels])
    taps = cols.reshape(b, k, k, n, h, wd)
    return _col2im(lambda u, v: taps[:, u, v], x.dtype, out_shape, k, stride, padding)


SHORT_REDUCTION = 64   # weight-gradient reductions below this read a contiguous copy


def _weight_grad(out_side, in_cols, w_shape):
    """dw = rows(out_side) (A, M) @ in_cols^T (M, B*k*k), the one weight gradient of both ops.

    conv: out_side = dy, in_cols = im2col(x); transposed: out_side = x, in_cols = im2col(dy).
    in_cols^T is a transposed view of a C-contiguous array, which BLAS reads as is, except
    for a reduction shorter than SHORT_REDUCTION (the U-Net's 2x2 and 4x4 layers): there
    OpenBLAS runs the product from the view up to 2x slower than from a contiguous copy,
    which costs little at that length (measured, benchmarks/NOTES.md).
    """
    in_cols_t = in_cols.T
    if in_cols.shape[1] < SHORT_REDUCTION:
        in_cols_t = np.ascontiguousarray(in_cols_t)
    return _matmul(_channel_rows(out_side), in_cols_t).reshape(w_shape)


def _matmul(a, b, out=None):
    """a @ b; a reduction of length 1 (a 1x1 image at the U-Net's bottom) is an outer
    product, which np.multiply broadcasts 2-20x faster than OpenBLAS runs it as a GEMM
    (measured, benchmarks/NOTES.md), with the same result."""
    if a.shape[1] == 1:
        return np.multiply(a, b, out=out)
    return np.matmul(a, b, out=out)


# --- rearrangements ---------------------------------------------------------------------

def _im2col(x, k, stride, padding, out_hw):
    """cols[(c, u, v), (n, i, j)] = x_pad[n, c, i*s + u, j*s + v], shape (C*k*k, N*Ho*Wo).

    A window view of the padded input (no copy) with the axes already in the GEMM's order,
    then one C-order copy: the copy's inner loop runs along j, the longest axis.
    """
    n, c, _, _ = x.shape
    ho, wo = out_hw
    x_pad = _padded(x, padding)
    sn, sc, sh, sw = x_pad.strides
    windows = as_strided(x_pad, shape=(c, k, k, n, ho, wo),
                         strides=(sc, sh, sw, sn, stride * sh, stride * sw), writeable=False)
    cols = _scratch("cols", windows.shape, x.dtype)
    np.copyto(cols, windows)
    return cols.reshape(c * k * k, n * ho * wo)


def _col2im(tap, dtype, x_shape, k, stride, padding):
    """The adjoint of _im2col: x_pad[n, c, i*s + u, j*s + v] += cols[(c, u, v), (n, i, j)],
    with tap(u, v) giving the (C, N, Hi, Wi) slab cols[(:, u, v), :] of the columns.

    One slice-add per tap (u, v), each adding a whole (C, N, Hi, Wi) slab: no Python loop
    over pixels, channels or images. To keep those adds unit-stride, the sums live in a
    phase-major buffer: padded row P = s*I + a is stored as sums[a, ..., I, :], so tap
    u = s*q + a lands on rows q .. q + Hi - 1 of phase a (the same for columns). Each of
    the s*s phases is then copied once to its rows and columns of x; padded rows and
    rows no window reaches (when (H + 2p - k) % s != 0) get nothing, their true gradient.
    """
    n, c, h, w = x_shape
    hi, wi = (conv_output_size(size, k, stride, padding) for size in (h, w))
    phase_h, phase_w = -(-(h + 2 * padding) // stride), -(-(w + 2 * padding) // stride)
    sums = _scratch("sums", (stride, stride, c, n, phase_h, phase_w), dtype)
    sums.fill(0)
    for u in range(k):
        for v in range(k):
            (q, a), (r, b) = divmod(u, stride), divmod(v, stride)
            sums[a, b, :, :, q:q + hi, r:r + wi] += tap(u, v)
    x = np.empty(x_shape, dtype=sums.dtype)
    for a in range(stride):
        x_row, sum_row, n_rows = _phase_span(a, h, stride, padding)
        for b in range(stride):
            x_col, sum_col, n_cols = _phase_span(b, w, stride, padding)
            phase = sums[a, b, :, :, sum_row:sum_row + n_rows, sum_col:sum_col + n_cols]
            x[:, :, x_row::stride, x_col::stride] = phase.transpose(1, 0, 2, 3)
    return x


def _phase_span(a, size, stride, padding):
    """Where phase a (padded index = s*I + a) meets x: (first x index, first I, count)."""
    first = (a - padding) % stride  # x index i has padded index i + p
    return first, (first + padding) // stride, len(range(first, size, stride))


def _channel_rows(a):
    """(N, C, H, W) -> (C, N*H*W), the GEMM layout with the batch folded in (a view if N == 1)."""
    n, c, h, w = a.shape
    return a.transpose(1, 0, 2, 3).reshape(c, n * h * w)


def _padded(x, padding):
    """x with `padding` zeros on each side of H and W; x itself (any strides) when padding is 0."""
    if padding == 0:
        return x
    n, c, h, w = x.shape
    x_pad = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=x.dtype)
    x_pad[:, :, padding:padding + h, padding:padding + w] = x
    return x_pad


def _add_bias(y, b):
    if b is not None:
        y += b.reshape(1, -1, 1, 1)


def _bias_grad(dy, has_bias, into):
    # db[o] = sum_{n,i,j} dy[n, o, i, j]
    return deliver(dy.sum(axis=(0, 2, 3)), into) if has_bias else None


# Temporaries of tens of MB cost as much in first-touch page faults as the copy that fills
# them, so the columns matrix and col2im's sums each live in one buffer per dtype, kept
# across calls and grown to the largest size asked for. Only temporaries that die inside
# one function here use them: every array returned is freshly allocated. (So two threads
# must not run these ops at once; the training loop runs one op at a time.)
_scratch_buffers: dict = {}


def _scratch(name, shape, dtype):
    """A reusable array of `shape` with undefined contents (see above)."""
    size, key = math.prod(shape), (name, np.dtype(dtype))
    buffer = _scratch_buffers.get(key)
    if buffer is None or buffer.size < size:
        buffer = _scratch_buffers[key] = np.empty(size, dtype)
    return buffer[:size].reshape(shape)
