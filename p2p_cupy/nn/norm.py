"""BatchNorm2d and InstanceNorm2d: parameters, buffers and input checks around
p2p_cupy.ops.batch_norm and p2p_cupy.ops.instance_norm (PyTorch's semantics and names)."""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend
from p2p_cupy.nn.module import Module, Parameter
from p2p_cupy.ops.batch_norm import batch_norm2d_backward, batch_norm2d_forward
from p2p_cupy.ops.instance_norm import instance_norm2d_backward, instance_norm2d_forward


def check_image_input(layer, x, channels, dtype):
    """ValueError naming the layer unless x is (N, channels, H, W) of `dtype`."""
    expected = f"(N, {channels}, H, W)"
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{layer!r}: expected input {expected}, got shape {tuple(x.shape)}")
    if x.dtype != dtype:
        raise ValueError(f"{layer!r}: expected dtype {np.dtype(dtype)} (the parameters'), "
                         f"got {x.dtype}")


def _affine_parameters(num_features, rng):
    """gamma ~ N(1, 0.02) (pix2pix's init), beta = 0; float32 on the current backend."""
    rng = np.random.default_rng(0) if rng is None else rng
    bk = backend.current()
    gamma = rng.normal(1.0, 0.02, num_features).astype(np.float32)
    return (Parameter(bk.asarray(gamma)),
            Parameter(bk.asarray(np.zeros(num_features, np.float32))))


class BatchNorm2d(Module):
    """Batch statistics in training (running stats updated, unbiased var); running in eval.
    `sync` (None: this process's batch) set to a data-parallel communicator makes them the
    statistics of the global batch (--sync-bn; see p2p_cupy/ops/batch_norm.py)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, rng=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight, self.bias = _affine_parameters(num_features, rng)
        bk = backend.current()
        self.set_buffer("running_mean", bk.asarray(np.zeros(num_features, np.float32)))
        self.set_buffer("running_var", bk.asarray(np.ones(num_features, np.float32)))
        self.sync = None
        self._cache = None

    def forward(self, x):
        return self.forward_into(x, None)

    def forward_into(self, x, out):
        check_image_input(self, x, self.num_features, self.weight.data.dtype)
        ranks = self.sync.size if self.sync is not None else 1
        if self.training and ranks * x.shape[0] * x.shape[2] * x.shape[3] < 2:
            raise ValueError(f"{self!r}: training needs more than 1 value per channel, "
                             f"got input shape {tuple(x.shape)}")
        y, self._cache = batch_norm2d_forward(
            x, self.weight.data, self.bias.data, self.running_mean, self.running_var,
            self.training, self.momentum, self.eps, self.sync, out)
        return y

    def backward(self, dy):
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        into = (None, None)
        if self.requires_grad:     # the op adds dgamma, dbeta into .grad (ops/grad_into.py)
            into = (self.weight.gradient_target(), self.bias.gradient_target())
        dx, _, _ = batch_norm2d_backward(dy, self._cache, into)
        return dx

    def __repr__(self):
        return f"BatchNorm2d({self.num_features})"


class InstanceNorm2d(Module):
    """Per-sample, per-channel statistics, in training and eval alike (no running stats)."""

    def __init__(self, num_features, eps=1e-5, affine=False, rng=None):
        super().__init__()
        self.num_features, self.eps, self.affine = num_features, eps, affine
        if affine:
            self.weight, self.bias = _affine_parameters(num_features, rng)
        self._cache = None

    def _dtype(self, x):
        # without parameters any float dtype goes; with them, theirs
        return self.weight.data.dtype if self.affine else x.dtype

    def forward(self, x):
        check_image_input(self, x, self.num_features, self._dtype(x))
        if x.dtype not in (np.float32, np.float64):
            raise ValueError(f"{self!r}: expected float32 or float64 input, got {x.dtype}")
        gamma, beta = (self.weight.data, self.bias.data) if self.affine else (None, None)
        y, self._cache = instance_norm2d_forward(x, gamma, beta, self.eps)
        return y

    def backward(self, dy):
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        dx, dgamma, dbeta = instance_norm2d_backward(dy, self._cache)
        if self.affine and self.requires_grad:
            self.weight.accumulate(dgamma)
            self.bias.accumulate(dbeta)
        return dx

    def __repr__(self):
        return f"InstanceNorm2d({self.num_features}, affine={self.affine})"
