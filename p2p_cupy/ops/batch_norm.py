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

Synchronized batch norm (data parallelism, `sync` given): the batch is split over
sync.size processes with equal shares, and the statistics are those of the whole batch:
the per-channel sums sum(x) and sum((x - mean)^2) are all-reduced in the forward, and
sum(dy) and sum(dy * xhat) in the backward (M is then the global count). dgamma and dbeta
stay this process's own sums: the data-parallel gradient average combines them.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend
from p2p_cupy.ops.grad_into import deliver
from p2p_cupy.ops.launch import (check_int32, deliver_output, output_for, plane_chunks,
                                  plane_grid, reduction_grid, warp_block)


def _per_channel(v):
    """(C,) -> (C, 1, 1): broadcasts against (N, C, H, W)."""
    return v.reshape(-1, 1, 1)


def _dot_nhw(xp, a, b):
    """Per-channel sum over N, H, W of a * b, without the (N, C, H, W) temporary."""
    n, c = a.shape[:2]
    return xp.einsum("nci,nci->c", a.reshape(n, c, -1), b.reshape(n, c, -1))


def batch_norm2d_forward(x, gamma, beta, running_mean, running_var, training,
                         momentum=0.1, eps=1e-5, sync=None, out=None):
    """(y, cache); in training mode running_mean/running_var are updated IN PLACE; y is
    written into `out` when given. `sync` (anything with allreduce_sum(array) and size)
    makes the statistics the global batch's; it runs as array operations on every backend."""
    bk = backend.of(x)
    xp = bk.xp
    sync = sync if training else None
    if bk.uses_kernels and sync is None:
        return _kernel_forward(bk, x, gamma, beta, running_mean, running_var, training,
                               momentum, eps, out)
    count = x.shape[0] * x.shape[2] * x.shape[3] * (sync.size if sync else 1)
    if training:
        if sync is None:
            mean = x.mean(axis=(0, 2, 3))
        else:
            mean = sync.allreduce_sum(x.sum(axis=(0, 2, 3))) / count
        y = x - _per_channel(mean)                       # x - mean, reused as y's buffer
        squares = _dot_nhw(xp, y, y)
        var = (sync.allreduce_sum(squares) if sync else squares) / count
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
    return deliver_output(y, out), (x, mean, inv_std, gamma, training, sync)


def batch_norm2d_backward(dy, cache, grads_into=(None, None)):
    """(dx, dgamma, dbeta); dgamma, dbeta are None when delivered into the targets
    `grads_into` (ops/grad_into.py)."""
    bk = backend.of(dy)
    xp = bk.xp
    x, mean, inv_std, gamma, training, sync = cache
    if bk.uses_kernels and sync is None:
        return _kernel_backward(bk, dy, x, mean, inv_std, gamma, training, grads_into)
    count = x.shape[0] * x.shape[2] * x.shape[3] * (sync.size if sync else 1)
    dbeta = dy.sum(axis=(0, 2, 3))
    dgamma = inv_std * (_dot_nhw(xp, dy, x) - mean * dbeta)
    a = gamma * inv_std
    dx = dy * _per_channel(a)
    if training:
        sum_dy, sum_dy_xhat = dbeta, dgamma        # over the global batch when synchronized
        if sync is not None:
            sum_dy, sum_dy_xhat = sync.allreduce_sum(xp.stack([dbeta, dgamma]))
        # gamma inv_std (-dbeta/M - (x - mean) inv_std dgamma/M) = b * x + c
        b = -a * inv_std * sum_dy_xhat / count
        c = -a * sum_dy / count - b * mean
        bx = x * _per_channel(b)
        dx += bx
        dx += _per_channel(c)
    return dx, deliver(dgamma, grads_into[0]), deliver(dbeta, grads_into[1])


# --- kernel branch (kernels/batch_norm.cu) ----------------------------------------------

def _kernel_forward(bk, x, gamma, beta, running_mean, running_var, training, momentum, eps,
                    out):
    """Training: two kernels (per-slice partial sums, then statistics + y, see
    kernel_train_forward). Eval: an elementwise y = x scale + shift per channel. y is
    written into `out` when it is a contiguous buffer (ops/launch.py's output_for)."""
    xp = bk.xp
    x = xp.ascontiguousarray(x)
    if training:
        y, mean, inv_std = kernel_train_forward(bk, x, gamma, beta, running_mean, running_var,
                                                momentum, eps, out)
    else:
        n, c, h, w = x.shape
        mean = running_mean.copy()
        inv_std = 1.0 / xp.sqrt(running_var + eps)
        scale = inv_std * gamma
        shift = beta - mean * scale
        y = output_for(xp, x, out)
        grid, block = plane_grid(h * w, c, n)
        bk.kernel("batch_norm", "batch_norm_eval_fwd", x.dtype)(
            grid, block, (x, scale, shift, y, np.int32(n), np.int32(c), np.int32(h * w)))
    return deliver_output(y, out), (x, mean, inv_std, gamma, training, None)


def _kernel_backward(bk, dy, x, mean, inv_std, gamma, training, grads_into):
    return kernel_backward(bk, x, bk.xp.ascontiguousarray(dy), mean, inv_std, gamma, training,
                           grads_into)


def _reduction_launch(n, c, hw):
    """(grid, block, geometry, partial shape) of batch_norm.cu's two-kernel reductions:
    grid x the chunks of a plane, y the channels, z the images; geometry the kernels'
    (n, channels, hw, chunk_len, own) arguments, own = 1 when each channel has a single
    slice (batch 1, one chunk): then the apply kernel sums it itself and the partial
    kernel is not launched (one launch fewer per reduction, the same bits)."""
    check_int32("batch norm", plane=hw)
    chunks, chunk_len = plane_chunks(n, c, hw)
    grid = reduction_grid(chunks, c, n)
    geometry = tuple(np.int32(v) for v in (n, c, hw, chunk_len, n * chunks == 1))
    return grid, warp_block(chunk_len), geometry, (c, n * chunks, 2)


def kernel_train_forward(bk, x, gamma, beta, running_mean, running_var, momentum, eps,
                         out=None):
    """(y, mean, inv_std) of contiguous x (N, C, H, W), running statistics updated in place:
    batch_norm_stats_partial sums each (image, chunk) slice, batch_norm_train_apply reduces
    the slices of its channel in a fixed order and writes y (into `out` when output_for
    allows; the caller delivers it). Also instance norm's kernels."""
    xp = bk.xp
    n, c, h, w = x.shape
    grid, block, geometry, partial_shape = _reduction_launch(n, c, h * w)
    partial = xp.empty(partial_shape, np.float64)   # (unread when own)
    if not geometry[-1]:
        bk.kernel("batch_norm", "batch_norm_stats_partial", x.dtype)(grid, block,
                                                                     (x, partial) + geometry[:-1])
    y = output_for(xp, x, out)
    mean, inv_std = xp.empty(c, x.dtype), xp.empty(c, x.dtype)
    bk.kernel("batch_norm", "batch_norm_train_apply", x.dtype)(
        grid, block, (x, gamma, beta, partial, y, mean, inv_std, running_mean, running_var)
        + geometry + (np.float64(momentum), np.float64(eps)))
    return y, mean, inv_std


def kernel_backward(bk, x, dy, mean, inv_std, gamma, training, grads_into=(None, None)):
    """(dx, dgamma, dbeta) of contiguous x, dy: batch_norm_bwd_partial sums dy and
    dy (x - mean) per slice, batch_norm_bwd_apply reduces them and writes dx. dgamma and
    dbeta go straight into their targets (ops/grad_into.py) when both are contiguous and
    both zeroed or both not (the kernel writes, or adds, both); else they are delivered
    (added) or returned."""
    xp = bk.xp
    n, c, h, w = x.shape
    grid, block, geometry, partial_shape = _reduction_launch(n, c, h * w)
    partial = xp.empty(partial_shape, np.float64)   # (unread when own)
    if not geometry[-1]:
        bk.kernel("batch_norm", "batch_norm_bwd_partial", x.dtype)(
            grid, block, (x, dy, mean, partial) + geometry[:-1])
    dx = xp.empty_like(x)
    into_gamma, into_beta = grads_into
    direct = (into_gamma is not None and into_beta is not None
              and into_gamma[1] == into_beta[1] and into_gamma[0].flags.c_contiguous
              and into_beta[0].flags.c_contiguous)
    if direct:
        dgamma, dbeta = into_gamma[0], into_beta[0]
    else:
        dgamma, dbeta = xp.empty(c, x.dtype), xp.empty(c, x.dtype)
    accumulate = direct and not into_gamma[1]
    bk.kernel("batch_norm", "batch_norm_bwd_apply", x.dtype)(
        grid, block, (x, dy, mean, inv_std, gamma, partial, dx, dgamma, dbeta) + geometry
        + (np.int32(bool(training)), np.int32(accumulate)))
    if direct:
        return dx, None, None
    return dx, deliver(dgamma, into_gamma), deliver(dbeta, into_beta)
