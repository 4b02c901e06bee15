"""Forward-mode ("R-op") passes through a Sequential of conv, norm and leaky-ReLU layers,
and their hand-written backward: what the WGAN-GP gradient penalty needs to get the exact
gradient of ||dD/dx|| with respect to D's parameters without a generic double backward.

For a network y = f(x; theta), tangent_forward carries a pair (x, t) through every layer:
the value y and its directional derivative ty = J_f(x) t. For a scalar h = sum(ty) that
is the input gradient of sum(y) dotted with t:

    h = 1^T J t = (J^T 1) . t = g . t,    g = d sum(f) / dx

so the gradient of h with respect to theta, with t held fixed, is (dg/dtheta)^T t: the
vector-Jacobian product of the penalty through g when t = dP/dg. tangent_backward runs the
reverse pass of the pair computation, layer by layer, given the adjoints (gy, gty) of
(y, ty); it returns (gx, gt) and adds the parameter gradients like backward does.

Per layer (a = adjoints, xh = normalised x, inv = 1/sqrt(var + eps), means per group):
  conv       y = W*x + b, ty = W*t:  gx = W^T gy, gt = W^T gty, dW = gy (x) x + gty (x) t
  leakyReLU  y = s(x) x, ty = s(x) t with s in {1, slope}; s' = 0 almost everywhere:
             gx = s gy, gt = s gty
  norm       y = gamma xh + beta, ty = gamma inv z, z = t - mean(t) - xh mean(xh t):
             gt    = gamma inv (gty - mean(gty) - xh mean(xh gty))   (the Jacobian is
                     symmetric)
             gxh   = gamma gy - mean(xh t) zbar - t mean(zbar xh),   zbar = gamma inv gty
             gx    = inv (gxh - mean(gxh) - xh mean(gxh xh)) - inv^2 xh mean(gamma gty z)
             dgamma = sum(gy xh) + sum(gty inv z),  dbeta = sum(gy)
  (the last term of gx: inv depends on x through the variance, d inv/dx = -inv^2 xh / m)
Batch norm groups over (N, H, W) per channel, in training mode only (batch statistics);
instance norm over (H, W) per sample and channel. Running statistics are not touched.
"""
from __future__ import annotations

from p2p_cupy import backend, nn
from p2p_cupy.ops.activations import leaky_relu_backward, leaky_relu_forward
from p2p_cupy.ops.conv import conv2d_backward, conv2d_forward


def _norm_axes(layer):
    if isinstance(layer, nn.BatchNorm2d):
        if not layer.training:
            raise ValueError(f"{layer!r}: the tangent pass needs batch statistics (training)")
        return (0, 2, 3)
    return (2, 3)


def _gamma(layer, xp, like):
    if getattr(layer, "weight", None) is None:
        return xp.ones((1, like.shape[1], 1, 1), like.dtype)
    return layer.weight.data.reshape(1, -1, 1, 1)


def _norm_forward(layer, x, t):
    xp = backend.of(x).xp
    axes = _norm_axes(layer)
    mean = lambda a: a.mean(axis=axes, keepdims=True)   # noqa: E731
    xc = x - mean(x)
    inv = 1.0 / xp.sqrt(mean(xc * xc) + layer.eps)
    xh = xc * inv
    z = t - mean(t) - xh * mean(xh * t)
    gamma = _gamma(layer, xp, x)
    y = gamma * xh
    if getattr(layer, "weight", None) is not None:
        y += layer.bias.data.reshape(1, -1, 1, 1)
    return y, gamma * inv * z, (axes, xh, inv, z, t, gamma)


def _norm_backward(layer, cache, gy, gty):
    axes, xh, inv, z, t, gamma = cache
    mean = lambda a: a.mean(axis=axes, keepdims=True)   # noqa: E731
    gt = gamma * inv * (gty - mean(gty) - xh * mean(xh * gty))
    zbar = gamma * inv * gty
    gxh = -mean(xh * t) * zbar - t * mean(zbar * xh)
    if gy is not None:
        gxh += gamma * gy
    gx = inv * (gxh - mean(gxh) - xh * mean(gxh * xh)) - inv * inv * xh * mean(gamma * gty * z)
    if getattr(layer, "weight", None) is not None and layer.requires_grad:
        dgamma = (gty * inv * z).sum(axis=(0, 2, 3))
        if gy is not None:
            dgamma += (gy * xh).sum(axis=(0, 2, 3))
            layer.bias.accumulate(gy.sum(axis=(0, 2, 3)))
        layer.weight.accumulate(dgamma)
    return gx, gt


def tangent_forward(layers, x, t):
    """(y, ty, caches): the value and the directional derivative along t of the layers
    (applied in order) at x."""
    caches = []
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            b = None if layer.bias is None else layer.bias.data
            x, cx = conv2d_forward(x, layer.weight.data, b, layer.stride, layer.padding)
            t, ct = conv2d_forward(t, layer.weight.data, None, layer.stride, layer.padding)
            caches.append((cx, ct))
        elif isinstance(layer, nn.LeakyReLU):
            x, c = leaky_relu_forward(x, layer.slope)
            t = leaky_relu_backward(t, c)          # times the slope mask: its Jacobian
            caches.append(c)
        elif isinstance(layer, (nn.BatchNorm2d, nn.InstanceNorm2d)):
            x, t, c = _norm_forward(layer, x, t)
            caches.append(c)
        else:
            raise TypeError(f"tangent_forward: no forward-mode rule for {layer!r}")
    return x, t, caches


def tangent_backward(layers, caches, gy, gty, need_input_grad=False):
    """Reverse pass of tangent_forward given the adjoints of (y, ty); gy=None means zero.
    Accumulates the parameter gradients of layers that require them; returns (gx, gt)
    (None, None when need_input_grad is False: the first layer skips that work)."""
    layers = list(layers)
    for i in range(len(layers) - 1, -1, -1):
        layer, cache = layers[i], caches[i]
        want_dx = need_input_grad or i > 0
        if isinstance(layer, nn.Conv2d):
            (cx, ct), need_w = cache, layer.requires_grad
            gx = dw = db = None
            if gy is not None:
                gx, dw, db = conv2d_backward(gy, cx, need_w, want_dx)
            gt, dwt, _ = conv2d_backward(gty, ct, need_w, want_dx)
            if need_w:
                layer.weight.accumulate(dwt if dw is None else dw + dwt)
                if db is not None:
                    layer.bias.accumulate(db)
            gy, gty = gx, gt
        elif isinstance(layer, nn.LeakyReLU):
            gy = None if gy is None else leaky_relu_backward(gy, cache)
            gty = leaky_relu_backward(gty, cache)
        else:
            gy, gty = _norm_backward(layer, cache, gy, gty)
    return (gy, gty) if need_input_grad else (None, None)
