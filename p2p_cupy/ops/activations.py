"""Elementwise activations. Each cache is the output y, from which the derivative follows:
    leaky_relu  y = max(x, slope x)      dx = dy where y > 0, else slope dy  (0 <= slope < 1)
    relu        y = max(x, 0)            dx = dy where y > 0, else 0
    tanh        y = tanh(x)              dx = dy (1 - y^2)
    sigmoid     y = 1 / (1 + e^-x)       dx = dy y (1 - y)
"""
from __future__ import annotations

from p2p_cupy import backend
from p2p_cupy.ops.launch import PACK_ITEMS, deliver_output, launch_1d, n_arg, output_for


def _kernel_unary(bk, name, x, *scalars, out=None):
    """(y, cache) of kernels/activations.cu's <name>_fwd(x) (cuda, emu): y in `out` when
    given; the cache is the contiguous array the kernel wrote (out itself, or its own
    array when out is strided), which the backward kernel reads."""
    x = bk.xp.ascontiguousarray(x)
    y = output_for(bk.xp, x, out)
    launch_1d(bk.kernel("activations", f"{name}_fwd", x.dtype), x.size,
              (x, y, n_arg(x.size)) + tuple(x.dtype.type(s) for s in scalars), PACK_ITEMS)
    return deliver_output(y, out), y


def _kernel_grad(bk, name, dy, y, *scalars):
    """dx = kernels/activations.cu's <name>_bwd(dy, y), from the forward's output y."""
    dy = bk.xp.ascontiguousarray(dy)
    dx = bk.xp.empty_like(dy)
    launch_1d(bk.kernel("activations", f"{name}_bwd", dy.dtype), dy.size,
              (dy, y, dx, n_arg(dy.size)) + tuple(dy.dtype.type(s) for s in scalars), PACK_ITEMS)
    return dx


def leaky_relu_forward(x, slope, out=None):
    """(y, cache); y is written into `out` when given (every forward here takes one)."""
    bk = backend.of(x)
    if bk.uses_kernels:
        y, written = _kernel_unary(bk, "leaky_relu", x, slope, out=out)
        return y, (written, slope)
    xp = bk.xp
    y = x * x.dtype.type(slope)
    xp.maximum(x, y, out=y)              # for 0 <= slope < 1, max picks x exactly when x > 0
    y = deliver_output(y, out)
    return y, (y, slope)


def leaky_relu_backward(dy, cache):
    bk = backend.of(dy)
    if bk.uses_kernels:
        return _kernel_grad(bk, "leaky_relu", dy, cache[0], cache[1])
    xp = bk.xp
    y, slope = cache
    # dx = dy * factor, factor = 1 where y > 0 else slope, built as mask * (1 - slope) + slope:
    # plain vectorised passes, 5-7x faster than xp.where on float arrays (benchmarks/NOTES.md),
    # and exact: in floating point fl(1 - slope) + slope rounds to exactly 1 for 0 <= slope < 1
    slope = dy.dtype.type(slope)
    factor = xp.multiply(y > 0, dy.dtype.type(1) - slope, dtype=dy.dtype)
    factor += slope
    factor *= dy
    return factor


def relu_forward(x, out=None):
    bk = backend.of(x)
    if bk.uses_kernels:
        return _kernel_unary(bk, "relu", x, out=out)
    xp = bk.xp
    y = deliver_output(xp.maximum(x, 0), out)
    return y, y


def relu_backward(dy, cache):
    bk = backend.of(dy)
    if bk.uses_kernels:
        return _kernel_grad(bk, "relu", dy, cache)
    xp = bk.xp
    # dy times the 0/1 mask: a plain multiply, several times faster than xp.where (NOTES.md)
    return xp.multiply(dy, cache > 0, dtype=dy.dtype)


def tanh_forward(x, out=None):
    bk = backend.of(x)
    if bk.uses_kernels:
        return _kernel_unary(bk, "tanh", x, out=out)
    xp = bk.xp
    y = deliver_output(xp.tanh(x), out)
    return y, y


def tanh_backward(dy, cache):
    bk = backend.of(dy)
    if bk.uses_kernels:
        return _kernel_grad(bk, "tanh", dy, cache)
    xp = bk.xp
    y = cache
    dx = y * y
    xp.subtract(1, dx, out=dx)
    dx *= dy
    return dx


def sigmoid_forward(x, out=None):
    """Stable for any |x|: exp is only ever taken of -|x|, so it never overflows."""
    bk = backend.of(x)
    if bk.uses_kernels:
        return _kernel_unary(bk, "sigmoid", x, out=out)
    xp = bk.xp
    e = xp.exp(-xp.abs(x))               # in (0, 1]
    y = xp.where(x >= 0, 1, e)           # 1/(1+e^-x) for x >= 0, e^x/(1+e^x) for x < 0
    y = y.astype(x.dtype, copy=False)
    e += 1
    y /= e
    y = deliver_output(y, out)
    return y, y


def sigmoid_backward(dy, cache):
    bk = backend.of(dy)
    if bk.uses_kernels:
        return _kernel_grad(bk, "sigmoid", dy, cache)
    y = cache
    dx = 1 - y
    dx *= y
    dx *= dy
    return dx
