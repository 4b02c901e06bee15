"""Batch normalisation over (N, H, W) per channel, as torch.nn.BatchNorm2d.

Training:  mean, var = batch statistics (biased var);  inv_std = 1 / sqrt(var + eps)
           y = (x - mean) * inv_std * gamma + beta
           running_mean <- (1 - m) running_mean + m mean
           running_var  <- (1 - m) running_var  + m var * M / (M - 1)   (unbiased, M = N*H*W)
Eval:      the same y with running_mean, running_var in place of the batch statistics.

Backward, with xhat = (x - mean) inv_std and sums over (N, H, W):
    dbeta  = sum(dy);   dgamma = sum(dy * xhat) = inv_std * (sum(dy * x) - mean * sum(dy))
    train: dx = gamma inv_std * (dy - dbeta / M - xhat * dgamma / M)
    eval:  dx = gamma inv_std * dy            (the statistics are constants)
The cache keeps x, mean and inv_std (as Chainer does), not x-hat: backward folds xhat into
per-channel coefficients, dx = a * dy + b * x + c, so it never materialises xhat.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend
from p2p_cupy.ops.grad_into import deliver
from p2p_cupy.ops.launch import deliver_output, launch_1d, n_arg, output_for, reduction_block


def _per_channel(v):
    """(C,) -> (C, 1, 1): broadcasts against (N, C, H, W)."""
    return v.reshape(-1, 1, 1)


def _dot_nhw(xp, a, b):
    """Per-channel sum over N, H, W of a * b, without the (N, C, H, W) temporary."""
    n, c = a.shape[:2]
    return xp.einsum("nci,nci->c", a.reshape(n, c, -1), b.reshape(n, c, -1))


def batch_norm2d_forward(x, gamma, beta, running_mean, running_var, training,
                         momentum=0.1, eps=1e-5, out=None):
    """(y, cache); in training mode running_mean/running_var are updated IN PLACE; y is
    written into `out` when given."""
    bk = backend.current()
    xp = bk.xp
    if bk.uses_kernels:
        return _kernel_forward(bk, x, gamma, beta, running_mean, running_var, training,
                               momentum, eps, out)
    count = x.shape[0] * x.shape[2] * x.shape[3]
    if training:
        mean = x.mean(axis=(0, 2, 3))
        y = x - _per_channel(mean)                       # x - mean, reused as y's buffer
        var = _dot_nhw(xp, y, y) / count
        inv_std = 1.0 / xp.sqrt(var + eps)
        running_mean *= 1.0 - momentum
        running_mean += momentum * mean
        running_var *= 1.0 - momentum
        running_var += (momentum * count / (count - 1)) * var
        y *= _per_channel(inv_std * gamma)
        y += _per_channel(beta)
    else:
        mean = running_mean.copy()
        inv_std = 1.0 / xp.sqrt(running_var + eps)
        scale = inv_std * gamma
        y = x * _per_channel(scale)
        y += _per_channel(beta - mean * scale)
    return deliver_output(y, out), (x, mean, inv_std, gamma, training)


def batch_norm2d_backward(dy, cache, grads_into=(None, None)):
    """(dx, dgamma, dbeta); dgamma, dbeta are None when delivered into the targets
    `grads_into` (ops/grad_into.py)."""
    bk = backend.current()
    xp = bk.xp
    x, mean, inv_std, gamma, training = cache
    if bk.uses_kernels:
        return _kernel_backward(bk, dy, x, mean, inv_std, gamma, training, grads_into)
    count = x.shape[0] * x.shape[2] * x.shape[3]
    dbeta = dy.sum(axis=(0, 2, 3))
    dgamma = inv_std * (_dot_nhw(xp, dy, x) - mean * dbeta)
    a = gamma * inv_std
    dx = dy * _per_channel(a)
    if training:
        # gamma inv_std (-dbeta/M - (x - mean) inv_std dgamma/M) = b * x + c
        b = -a * inv_std * dgamma / count
        c = -a * dbeta / count - b * mean
        bx = x * _per_channel(b)
        dx += bx
        dx += _per_channel(c)
    return dx, deliver(dgamma, grads_into[0]), deliver(dbeta, grads_into[1])


# --- kernel branch (kernels/batch_norm.cu) ----------------------------------------------

def _kernel_forward(bk, x, gamma, beta, running_mean, running_var, training, momentum, eps,
                    out):
    """Training: one block per channel computes the statistics, updates the running ones
    and writes y. Eval: an elementwise y = x scale + shift with per-channel coefficients."""
    xp = bk.xp
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    y = output_for(xp, x, out)
    if training:
        mean, inv_std = xp.empty(c, x.dtype), xp.empty(c, x.dtype)
        bk.kernel("batch_norm", "batch_norm_train_fwd", x.dtype)(
            (c,), reduction_block(n * h * w), (x, gamma, beta, y, mean, inv_std, running_mean, running_var,
                             np.int32(n), np.int32(c), np.int32(h * w),
                             np.float64(momentum), np.float64(eps)))
    else:
        mean = running_mean.copy()
        inv_std = 1.0 / xp.sqrt(running_var + eps)
        scale = inv_std * gamma
        shift = beta - mean * scale
        launch_1d(bk.kernel("batch_norm", "batch_norm_eval_fwd", x.dtype), x.size,
                  (x, scale, shift, y, n_arg(x.size), np.int32(c), np.int32(h * w)))
    return deliver_output(y, out), (x, mean, inv_std, gamma, training)


def _kernel_backward(bk, dy, x, mean, inv_std, gamma, training, grads_into):
    """One block per channel: reduces dbeta and dgamma, then writes dx. dgamma and dbeta
    go straight into their targets when both hold zeros (the kernel writes both)."""
    xp = bk.xp
    dy = xp.ascontiguousarray(dy)
    n, c, h, w = x.shape
    dx = xp.empty_like(x)
    into_gamma, into_beta = grads_into
    direct = (into_gamma is not None and into_beta is not None and into_gamma[1]
              and into_beta[1] and into_gamma[0].flags.c_contiguous
              and into_beta[0].flags.c_contiguous)
    if direct:
        dgamma, dbeta = into_gamma[0], into_beta[0]
    else:
        dgamma, dbeta = xp.empty(c, x.dtype), xp.empty(c, x.dtype)
    bk.kernel("batch_norm", "batch_norm_bwd", x.dtype)(
        (c,), reduction_block(n * h * w), (x, dy, mean, inv_std, gamma, dx, dgamma, dbeta,
                         np.int32(n), np.int32(c), np.int32(h * w), np.int32(bool(training))))
    if direct:
        return dx, None, None
    return dx, deliver(dgamma, into_gamma), deliver(dbeta, into_beta)
