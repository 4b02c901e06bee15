"""Instance normalisation: batch norm's math with statistics per sample and channel.

As torch.nn.InstanceNorm2d with its default track_running_stats=False: every forward,
training or eval, normalises with the statistics of the instance itself (biased variance).
    y = (x - mean_nc) * inv_std_nc [* gamma_c + beta_c when affine]
Backward, with g = dy * gamma (or dy), xhat = (x - mean) inv_std, means over (H, W):
    dx = inv_std * (g - mean(g) - xhat * mean(g * xhat))
    dgamma = sum_{n,h,w}(dy * xhat),  dbeta = sum_{n,h,w}(dy)
The cache keeps x, mean and inv_std, as batch_norm.py does.
"""
from __future__ import annotations

from p2p_cupy import backend


def _dot_hw(xp, a, b):
    """Per-(n, c) sum over H, W of a * b, shape (N, C, 1, 1), without a full temporary."""
    n, c = a.shape[:2]
    return xp.einsum("nci,nci->nc", a.reshape(n, c, -1),
                     b.reshape(n, c, -1)).reshape(n, c, 1, 1)


def instance_norm2d_forward(x, gamma=None, beta=None, eps=1e-5):
    """(y, cache); gamma and beta (C,) are both given (affine) or both None."""
    xp = backend.current().xp
    count = x.shape[2] * x.shape[3]
    mean = x.mean(axis=(2, 3), keepdims=True)
    y = x - mean
    inv_std = 1.0 / xp.sqrt(_dot_hw(xp, y, y) / count + eps)
    y *= inv_std
    if gamma is not None:
        y *= gamma.reshape(-1, 1, 1)
        y += beta.reshape(-1, 1, 1)
    return y, (x, mean, inv_std, gamma)


def instance_norm2d_backward(dy, cache):
    """(dx, dgamma, dbeta); dgamma and dbeta are None when not affine."""
    xp = backend.current().xp
    x, mean, inv_std, gamma = cache
    count = x.shape[2] * x.shape[3]
    g = dy if gamma is None else dy * gamma.reshape(-1, 1, 1)
    g_mean = g.mean(axis=(2, 3), keepdims=True)
    # mean(g * xhat) = inv_std * (mean(g * x) - mean * mean(g))
    g_xhat_mean = inv_std * (_dot_hw(xp, g, x) / count - mean * g_mean)
    # dx = inv_std * (g - g_mean - (x - mean) * inv_std * g_xhat_mean) = inv_std*g + b*x + c
    b = -inv_std * inv_std * g_xhat_mean
    dx = g * inv_std
    bx = x * b
    dx += bx
    dx += -inv_std * g_mean - b * mean
    if gamma is None:
        return dx, None, None
    dbeta = dy.sum(axis=(0, 2, 3))
    dgamma = (inv_std * (_dot_hw(xp, dy, x) - mean * dy.sum(axis=(2, 3), keepdims=True))
              ).sum(axis=(0, 2, 3))
    return dx, dgamma, dbeta
