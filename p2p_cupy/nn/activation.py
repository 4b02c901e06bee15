"""Activation layers around p2p_cupy.ops.activations; no parameters, any float input."""
from __future__ import annotations

import numpy as np

from p2p_cupy.nn.module import Module
from p2p_cupy.ops import activations


class _Activation(Module):
    """forward keeps the op's cache; backward hands it back to the op."""

    def __init__(self):
        super().__init__()
        self._cache = None

    def forward(self, x):
        return self.forward_into(x, None)

    def forward_into(self, x, out):
        if x.dtype not in (np.float32, np.float64):
            raise ValueError(f"{self!r}: expected float32 or float64 input, got {x.dtype}")
        y, self._cache = self._forward_op(x, out)
        return y

    def backward(self, dy):
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        return self._backward_op(dy, self._cache)

    def __repr__(self):
        return f"{type(self).__name__}()"


class LeakyReLU(_Activation):
    def __init__(self, slope=0.01):
        super().__init__()
        if not 0 <= slope < 1:
            raise ValueError(f"LeakyReLU: expected 0 <= slope < 1, got {slope}")
        self.slope = slope

    def _forward_op(self, x, out):
        return activations.leaky_relu_forward(x, self.slope, out)

    def _backward_op(self, dy, cache):
        return activations.leaky_relu_backward(dy, cache)

    def __repr__(self):
        return f"LeakyReLU({self.slope})"


class ReLU(_Activation):
    def _forward_op(self, x, out):
        return activations.relu_forward(x, out)

    def _backward_op(self, dy, cache):
        return activations.relu_backward(dy, cache)


class Tanh(_Activation):
    def _forward_op(self, x, out):
        return activations.tanh_forward(x, out)

    def _backward_op(self, dy, cache):
        return activations.tanh_backward(dy, cache)


class Sigmoid(_Activation):
    def _forward_op(self, x, out):
        return activations.sigmoid_forward(x, out)

    def _backward_op(self, dy, cache):
        return activations.sigmoid_backward(dy, cache)
