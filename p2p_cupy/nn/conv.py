"""Conv2d and ConvTranspose2d: parameters and shape checks around p2p_cupy.ops.conv.

Weights follow PyTorch's layouts, so checkpoints map one to one:
    Conv2d.weight           (out_channels, in_channels, k, k)
    ConvTranspose2d.weight  (in_channels, out_channels, k, k)
Init as in pix2pix: weights N(0, 0.02) drawn from `rng` on the host in float32, bias zeros.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend
from p2p_cupy.nn.module import Module, Parameter
from p2p_cupy.ops import conv


class _ConvLayer(Module):
    """What both layers share: parameters, input checks, forward/backward through an op pair.

    Subclasses set _forward_op/_backward_op (the functions of p2p_cupy.ops.conv) and
    output_size (one spatial dimension).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, bias, rng,
                 weight_shape):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        rng = np.random.default_rng(0) if rng is None else rng
        bk = backend.current()
        self.weight = Parameter(bk.asarray(rng.normal(0.0, 0.02, weight_shape).astype(np.float32)))
        self.bias = Parameter(bk.asarray(np.zeros(out_channels, np.float32))) if bias else None
        self._cache = None

    def forward(self, x):
        self._check_input(x)
        b = None if self.bias is None else self.bias.data
        y, self._cache = self._forward_op(x, self.weight.data, b, self.stride, self.padding,
                                          **self._op_options())
        return y

    def _op_options(self):
        """Keyword arguments of the forward op beyond the shared ones (none here)."""
        return {}

    def backward(self, dy):
        return self._backward(dy, need_input_grad=True)

    def backward_without_input_grad(self, dy):
        """The parameter gradients only: the input gradient is not computed at all."""
        return self._backward(dy, need_input_grad=False)

    def _backward(self, dy, need_input_grad):
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        into = (None, None)
        if self.requires_grad:     # the op adds dw, db into .grad itself (ops/grad_into.py)
            into = (self.weight.gradient_target(),
                    None if self.bias is None else self.bias.gradient_target())
        dx, _, _ = self._backward_op(dy, self._cache, need_weight_grad=self.requires_grad,
                                     need_input_grad=need_input_grad, grads_into=into)
        return dx

    def _check_input(self, x):
        expected = f"(N, {self.in_channels}, H, W)"
        if x.ndim != 4:
            raise ValueError(f"{self!r}: expected a 4-D input {expected}, "
                             f"got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r}: expected input {expected} with {self.in_channels} "
                             f"channels, got shape {tuple(x.shape)}")
        if x.dtype != self.weight.data.dtype:
            raise ValueError(f"{self!r}: expected dtype {self.weight.data.dtype} (the weights'), "
                             f"got {x.dtype}")
        if min(self.output_size(x.shape[2]), self.output_size(x.shape[3])) < 1:
            raise ValueError(f"{self!r}: input {tuple(x.shape)} is too small for kernel "
                             f"{self.kernel_size}, stride {self.stride}, padding {self.padding}")

    def __repr__(self):
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"bias={self.bias is not None}{self._repr_extra()})")

    def _repr_extra(self):
        return ""


class Conv2d(_ConvLayer):
    """y = conv2d(x, weight) + bias; weight (out, in, k, k); output (H + 2p - k)//s + 1."""

    _forward_op = staticmethod(conv.conv2d_forward)
    _backward_op = staticmethod(conv.conv2d_backward)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 rng=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias, rng,
                         (out_channels, in_channels, kernel_size, kernel_size))

    def output_size(self, size):
        """Output length for `size` input pixels along one dimension (< 1: too small)."""
        return conv.conv_output_size(size, self.kernel_size, self.stride, self.padding)


class ConvTranspose2d(_ConvLayer):
    """y = conv_transpose2d(x, weight) + bias; weight (in, out, k, k); output
    (H-1)*s - 2p + k + output_padding (output_padding < stride: extra bottom/right rows)."""

    _forward_op = staticmethod(conv.conv_transpose2d_forward)
    _backward_op = staticmethod(conv.conv_transpose2d_backward)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 rng=None, output_padding=0):
        self.output_padding = output_padding      # checked by the op
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias, rng,
                         (in_channels, out_channels, kernel_size, kernel_size))

    def _op_options(self):
        return {"output_padding": self.output_padding}

    def _repr_extra(self):
        return f", output_padding={self.output_padding}" if self.output_padding else ""

    def output_size(self, size):
        """Output length for `size` input pixels along one dimension."""
        return conv.conv_output_size(size, self.kernel_size, self.stride, self.padding,
                                     transposed=True, output_padding=self.output_padding)
