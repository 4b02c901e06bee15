"""Losses with mean reduction. Each forward returns the loss as a 0-d array of the current
backend (no host round trip) and a cache; backward(cache, dloss) returns dloss * dL/dpred.

    bce_with_logits  L = mean(max(x, 0) - x t + log(1 + e^-|x|))    dL/dx = (sigmoid(x) - t) / n
    mse              L = mean((p - t)^2)                            dL/dp = 2 (p - t) / n
    l1               L = mean(|p - t|)                              dL/dp = sign(p - t) / n
The BCE form equals -[t log s + (1 - t) log(1 - s)] with s = sigmoid(x), but only ever
exponentiates -|x|, so it stays finite for any logit (PyTorch's BCEWithLogitsLoss does the same).
A target is an array of the prediction's shape or a float label broadcast to it.
"""
from __future__ import annotations

from p2p_cupy import backend
from p2p_cupy.ops.activations import sigmoid_forward


def _check(name, pred, target):
    if hasattr(target, "shape") and tuple(target.shape) != tuple(pred.shape):
        raise ValueError(f"{name}: target shape {tuple(target.shape)} != prediction shape "
                         f"{tuple(pred.shape)}")


def _mean(xp, a):
    return xp.asarray(a.sum() / a.size)      # numpy reductions give scalars; keep a 0-d array


def bce_with_logits_forward(logits, target):
    _check("bce_with_logits", logits, target)
    xp = backend.current().xp
    terms = xp.abs(logits)
    xp.negative(terms, out=terms)
    xp.exp(terms, out=terms)
    xp.log1p(terms, out=terms)
    terms += xp.maximum(logits, 0)
    terms -= logits * target
    return _mean(xp, terms), (logits, target)


def bce_with_logits_backward(cache, dloss=1.0):
    logits, target = cache
    dx, _ = sigmoid_forward(logits)
    dx -= target
    dx *= dx.dtype.type(1.0 / logits.size)
    dx *= dloss
    return dx


def mse_forward(pred, target):
    _check("mse", pred, target)
    xp = backend.current().xp
    diff = pred - target
    return _mean(xp, diff * diff), diff


def mse_backward(cache, dloss=1.0):
    diff = cache
    grad = diff * diff.dtype.type(2.0 / diff.size)
    grad *= dloss                             # in place: keeps the dtype whatever dloss is
    return grad


def l1_forward(pred, target):
    _check("l1", pred, target)
    xp = backend.current().xp
    diff = pred - target
    return _mean(xp, xp.abs(diff)), xp.sign(diff)


def l1_backward(cache, dloss=1.0):
    sign = cache
    grad = sign * sign.dtype.type(1.0 / sign.size)
    grad *= dloss
    return grad
