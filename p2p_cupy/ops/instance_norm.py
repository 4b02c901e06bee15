"""Instance normalisation: batch norm's math with statistics per sample and channel.

As torch.nn.InstanceNorm2d with its default track_running_stats=False: every forward,
training or eval, normalises with the statistics of the instance itself (biased variance).
    y = (x - mean_nc) * inv_std_nc [* gamma_c + beta_c when affine]
Backward, with g = dy * gamma (or dy), xhat = (x - mean) inv_std, means over (H, W):
    dx = inv_std * (g - mean(g) - xhat * mean(g * xhat))
    dgamma = sum_{n,h,w}(dy * xhat),  dbeta = sum_{n,h,w}(dy)
The cache keeps x, mean and inv_std, as batch_norm.py does.

Kernel branch: instance norm of x (N, C, H, W) IS batch norm of the view (1, N*C, H, W),
with gamma and beta repeated per image, so it runs kernels/batch_norm.cu's training
kernels (each (n, c) plane one channel; their running statistics go to a scratch array).
Their dgamma, dbeta per plane are then summed over n.
"""
from __future__ import annotations

from p2p_cupy import backend
from p2p_cupy.ops.batch_norm import kernel_backward, kernel_train_forward


def _dot_hw(xp, a, b):
    """Per-(n, c) sum over H, W of a * b, shape (N, C, 1, 1), without a full temporary."""
    n, c = a.shape[:2]
    return xp.einsum("nci,nci->nc", a.reshape(n, c, -1),
                     b.reshape(n, c, -1)).reshape(n, c, 1, 1)


def instance_norm2d_forward(x, gamma=None, beta=None, eps=1e-5):
    """(y, cache); gamma and beta (C,) are both given (affine) or both None."""
    bk = backend.of(x)
    if bk.uses_kernels:
        return _kernel_forward(bk, x, gamma, beta, eps)
    xp = bk.xp
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
    bk = backend.of(dy)
    if bk.uses_kernels:
        return _kernel_backward(bk, dy, cache)
    xp = bk.xp
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


# --- kernel branch (kernels/batch_norm.cu on the (1, N*C, H, W) view) -------------------

def _plane_affine(xp, n, c, gamma, beta, dtype):
    """gamma, beta per (n, c) plane: repeated per image, or 1 and 0 when not affine."""
    if gamma is None:
        return xp.ones(n * c, dtype), xp.zeros(n * c, dtype)
    return xp.tile(gamma, n), xp.tile(beta, n)


def _kernel_forward(bk, x, gamma, beta, eps):
    xp = bk.xp
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    gamma_p, beta_p = _plane_affine(xp, n, c, gamma, beta, x.dtype)
    unused_running = xp.zeros((2, n * c), x.dtype)
    y, mean, inv_std = kernel_train_forward(bk, x.reshape(1, n * c, h, w), gamma_p, beta_p,
                                            unused_running[0], unused_running[1], 0.0, eps)
    return y.reshape(x.shape), (x, mean.reshape(n, c, 1, 1), inv_std.reshape(n, c, 1, 1), gamma)


def _kernel_backward(bk, dy, cache):
    xp = bk.xp
    x, mean, inv_std, gamma = cache
    n, c, h, w = x.shape
    gamma_p, _ = _plane_affine(xp, n, c, gamma, gamma, x.dtype)
    planes = (1, n * c, h, w)
    dx, dgamma_p, dbeta_p = kernel_backward(
        bk, x.reshape(planes), xp.ascontiguousarray(dy).reshape(planes), mean.reshape(-1),
        inv_std.reshape(-1), gamma_p, True)
    if gamma is None:
        return dx.reshape(x.shape), None, None
    return dx.reshape(x.shape), dgamma_p.reshape(n, c).sum(axis=0), dbeta_p.reshape(n, c).sum(axis=0)
