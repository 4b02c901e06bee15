"""Elementwise activations. Each cache is the output y, from which the derivative follows:
    leaky_relu  y = max(x, slope x)      dx = dy where y > 0, else slope dy  (0 <= slope < 1)
    relu        y = max(x, 0)            dx = dy where y > 0, else 0
    tanh        y = tanh(x)              dx = dy (1 - y^2)
    sigmoid     y = 1 / (1 + e^-x)       dx = dy y (1 - y)
"""
from __future__ import annotations

from p2p_cupy import backend


def leaky_relu_forward(x, slope):
    xp = backend.current().xp
    y = x * x.dtype.type(slope)
    xp.maximum(x, y, out=y)              # for 0 <= slope < 1, max picks x exactly when x > 0
    return y, (y, slope)


def leaky_relu_backward(dy, cache):
    xp = backend.current().xp
    y, slope = cache
    return xp.where(y > 0, dy, dy * dy.dtype.type(slope))


def relu_forward(x):
    xp = backend.current().xp
    y = xp.maximum(x, 0)
    return y, y


def relu_backward(dy, cache):
    xp = backend.current().xp
    return xp.where(cache > 0, dy, 0).astype(dy.dtype, copy=False)


def tanh_forward(x):
    xp = backend.current().xp
    y = xp.tanh(x)
    return y, y


def tanh_backward(dy, cache):
    xp = backend.current().xp
    y = cache
    dx = y * y
    xp.subtract(1, dx, out=dx)
    dx *= dy
    return dx


def sigmoid_forward(x):
    """Stable for any |x|: exp is only ever taken of -|x|, so it never overflows."""
    xp = backend.current().xp
    e = xp.exp(-xp.abs(x))               # in (0, 1]
    y = xp.where(x >= 0, 1, e)           # 1/(1+e^-x) for x >= 0, e^x/(1+e^x) for x < 0
    y = y.astype(x.dtype, copy=False)
    e += 1
    y /= e
    return y, y


def sigmoid_backward(dy, cache):
    y = cache
    dx = 1 - y
    dx *= y
    dx *= dy
    return dx
