"""Losses with mean reduction. Each forward returns the loss as a 0-d array of the
prediction's backend (no host round trip) and a cache; backward(cache, dloss) returns
dloss * dL/dpred.

    bce_with_logits  L = mean(max(x, 0) - x t + log(1 + e^-|x|))    dL/dx = (sigmoid(x) - t) / n
    mse              L = mean((p - t)^2)                            dL/dp = 2 (p - t) / n
    l1               L = mean(|p - t|)                              dL/dp = sign(p - t) / n
    softmax_cross_entropy   over the P = N*H*W pixels of logits (N, C, H, W) and class
                     indices t (N, H, W):  L = mean_p(log sum_c e^x_pc - x_p,t_p)
                                          dL/dx = (softmax(x) - onehot(t)) / P
The BCE form equals -[t log s + (1 - t) log(1 - s)] with s = sigmoid(x), but only ever
exponentiates -|x|, so it stays finite for any logit (PyTorch's BCEWithLogitsLoss does the same).
A target is an array of the prediction's shape or a float label broadcast to it.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend
from p2p_cupy.ops.activations import sigmoid_forward
from p2p_cupy.ops.launch import PACK_ITEMS, grid_1d, launch_1d, n_arg, reduction_block


def _check(name, pred, target):
    if hasattr(target, "shape") and tuple(target.shape) != tuple(pred.shape):
        raise ValueError(f"{name}: target shape {tuple(target.shape)} != prediction shape "
                         f"{tuple(pred.shape)}")


def _mean(xp, a):
    return xp.asarray(a.sum() / a.size)      # numpy reductions give scalars; keep a 0-d array


def _kernel_target(bk, target, like):
    """(target array, t_stride) for kernels/losses.cu: a float label becomes 1 element (a
    constant of the backend), stride 0."""
    if hasattr(target, "shape") and target.ndim > 0:
        return bk.xp.ascontiguousarray(target, dtype=like.dtype), np.int32(1)
    return bk.constant(target, like.dtype), np.int32(0)


def _kernel_forward(bk, name, pred, target, with_cache):
    """The loss reduced on the device in two kernels (kernels/losses.cu): per-block partial
    sums over a full grid, then one block adds them in order. Returns (loss, cache) with
    the cache the first kernel wrote (None for BCE)."""
    xp = bk.xp
    pred = xp.ascontiguousarray(pred)
    t, t_stride = _kernel_target(bk, target, pred)
    cache = (xp.empty_like(pred),) if with_cache else ()
    grid, block = grid_1d(pred.size)
    partial = xp.empty(grid[0], np.float64)
    bk.kernel("losses", f"{name}_partial", pred.dtype)(
        grid, block, (pred, t, t_stride) + cache + (partial, n_arg(pred.size)))
    loss = xp.empty((), pred.dtype)
    bk.kernel("losses", "loss_total", pred.dtype)(
        (1,), reduction_block(grid[0]), (partial, np.int32(grid[0]), loss, n_arg(pred.size)))
    return loss, (cache[0] if with_cache else None)


def _kernel_backward(bk, name, args, like, scale, dloss):
    """dpred = kernels/losses.cu's <name>_bwd(args..., scale), times dloss when not 1."""
    grad = bk.xp.empty_like(like)
    launch_1d(bk.kernel("losses", f"{name}_bwd", like.dtype), like.size,
              args + (grad, n_arg(like.size), like.dtype.type(scale)), PACK_ITEMS)
    if not (isinstance(dloss, (int, float)) and dloss == 1.0):
        bk.scale(grad, dloss)
    return grad


def bce_with_logits_forward(logits, target):
    _check("bce_with_logits", logits, target)
    bk = backend.of(logits)
    if bk.uses_kernels:
        loss, _ = _kernel_forward(bk, "bce_with_logits", logits, target, with_cache=False)
        return loss, (logits, target)
    xp = bk.xp
    terms = xp.abs(logits)
    xp.negative(terms, out=terms)
    xp.exp(terms, out=terms)
    xp.log1p(terms, out=terms)
    terms += xp.maximum(logits, 0)
    terms -= logits * target
    return _mean(xp, terms), (logits, target)


def bce_with_logits_backward(cache, dloss=1.0):
    logits, target = cache
    bk = backend.of(logits)
    if bk.uses_kernels:
        logits = bk.xp.ascontiguousarray(logits)
        t, t_stride = _kernel_target(bk, target, logits)
        return _kernel_backward(bk, "bce_with_logits", (logits, t, t_stride), logits,
                                1.0 / logits.size, dloss)
    dx, _ = sigmoid_forward(logits)
    dx -= target
    dx *= dx.dtype.type(1.0 / logits.size)
    dx *= dloss
    return dx


def mse_forward(pred, target):
    _check("mse", pred, target)
    bk = backend.of(pred)
    if bk.uses_kernels:     # the kernel also writes the cache, diff = p - t
        return _kernel_forward(bk, "mse", pred, target, with_cache=True)
    xp = bk.xp
    diff = pred - target
    return _mean(xp, diff * diff), diff


def mse_backward(cache, dloss=1.0):
    diff = cache
    bk = backend.of(diff)
    if bk.uses_kernels:
        return _kernel_backward(bk, "mse", (diff,), diff, 2.0 / diff.size, dloss)
    grad = diff * diff.dtype.type(2.0 / diff.size)
    grad *= dloss                             # in place: keeps the dtype whatever dloss is
    return grad


def l1_forward(pred, target):
    _check("l1", pred, target)
    bk = backend.of(pred)
    if bk.uses_kernels:     # the kernel also writes the cache, sign(p - t)
        return _kernel_forward(bk, "l1", pred, target, with_cache=True)
    xp = bk.xp
    diff = pred - target
    return _mean(xp, xp.abs(diff)), xp.sign(diff)


def l1_backward(cache, dloss=1.0):
    sign = cache
    bk = backend.of(sign)
    if bk.uses_kernels:
        return _kernel_backward(bk, "l1", (sign,), sign, 1.0 / sign.size, dloss)
    grad = sign * sign.dtype.type(1.0 / sign.size)
    grad *= dloss
    return grad


def _check_classes(logits, target):
    if logits.ndim != 4 or tuple(target.shape) != (logits.shape[0],) + tuple(logits.shape[2:]):
        raise ValueError(f"softmax_cross_entropy: expected logits (N, C, H, W) and class "
                         f"indices (N, H, W), got {tuple(logits.shape)} and "
                         f"{tuple(target.shape)}")


def softmax_cross_entropy_forward(logits, target):
    """Mean over pixels of -log softmax(logits)[target]; target holds class indices. The
    cache holds the softmax (the backward needs nothing else but the target)."""
    _check_classes(logits, target)
    bk = backend.current()
    xp = bk.xp
    pixels = target.size
    if bk.uses_kernels:
        logits = xp.ascontiguousarray(logits)
        t = xp.ascontiguousarray(target, dtype=np.int32)
        probs, loss = xp.empty_like(logits), xp.empty((), logits.dtype)
        grid, block = grid_1d(pixels)                  # as _kernel_forward, over pixels
        partial = xp.empty(grid[0], np.float64)
        bk.kernel("losses", "softmax_cross_entropy_partial", logits.dtype)(
            grid, block, (logits, t, probs, partial, n_arg(pixels), np.int32(logits.shape[1]),
                          n_arg(logits.shape[2] * logits.shape[3])))
        bk.kernel("losses", "loss_total", logits.dtype)(
            (1,), reduction_block(grid[0]), (partial, np.int32(grid[0]), loss, n_arg(pixels)))
        return loss, (probs, t)
    # log-sum-exp shifted by the per-pixel max: no overflow for any logit
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = xp.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    picked = xp.take_along_axis(shifted, target[:, None].astype(np.int64), axis=1)
    loss = xp.asarray((xp.log(total) - picked).sum() / pixels).astype(logits.dtype)
    return loss, (exp / total, target)


def softmax_cross_entropy_backward(cache, dloss=1.0):
    probs, target = cache
    bk = backend.current()
    pixels = target.size
    if bk.uses_kernels:
        n, c, h, w = probs.shape
        grad = bk.xp.empty_like(probs)
        launch_1d(bk.kernel("losses", "softmax_cross_entropy_bwd", probs.dtype), probs.size,
                  (probs, target, grad, n_arg(probs.size), np.int32(c), n_arg(h * w),
                   probs.dtype.type(1.0 / pixels)))
    else:
        grad = probs.copy()
        onehot = bk.xp.take_along_axis(grad, target[:, None].astype(np.int64), axis=1) - 1
        bk.xp.put_along_axis(grad, target[:, None].astype(np.int64), onehot, axis=1)
        grad *= grad.dtype.type(1.0 / pixels)
    if not (isinstance(dloss, (int, float)) and dloss == 1.0):
        grad *= dloss
    return grad
