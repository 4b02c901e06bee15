"""WGAN-GP (--gan-mode wgangp): the Wasserstein critic loss and its gradient penalty.

    D_real = -mean(D(real)),  D_fake = mean(D(fake)),  G_GAN = -mean(D(fake))
    P = lambda_gp * mean_n (||g_n|| - 1)^2,   g = d sum(D(x)) / dx at
    x = alpha real + (1 - alpha) fake,        alpha ~ U(0, 1) per sample

(as the reference's cal_gradient_penalty "mixed", with its 1e-16 inside the norm).

The penalty's gradient with respect to D's parameters theta goes through g, itself a
gradient. No generic double backward is needed: with v = dP/dg held fixed,

    dP/dtheta = (dg/dtheta)^T v = d/dtheta (g . v) = d/dtheta sum(J_D(x) v)

and J_D(x) v is a forward-mode (tangent) pass through D along v, whose reverse pass is
written layer by layer in p2p_cupy/nn/tangent.py. So: one ordinary forward and backward
of D (parameters frozen) for g and P, then one tangent pass and its reverse for dP/dtheta.
D's input is data here (the fake is detached in the D step), so nothing flows to G.
"""
from __future__ import annotations

from p2p_cupy import backend
from p2p_cupy.nn.tangent import tangent_backward, tangent_forward

GP_EPS = 1e-16     # keeps ||g|| differentiable at g = 0, as the reference


def wgan_loss(pred, is_real: bool):
    """(loss, dloss/dpred factory) of the critic: -mean(pred) for real, mean(pred) for fake."""
    sign = -1.0 if is_real else 1.0
    xp = backend.of(pred).xp
    loss = xp.asarray(pred.sum() * (sign / pred.size))

    def grad(scale=1.0):
        return xp.full(pred.shape, sign * scale / pred.size, pred.dtype)
    return loss, grad


def gradient_penalty(D, real, fake, alpha, lambda_gp=10.0):
    """P (0-d array) at the per-sample interpolates of real and fake (host alpha, shape
    (N,)); adds dP/dtheta to D's parameter gradients (where D requires them)."""
    bk = backend.of(real)
    xp = bk.xp
    a = bk.asarray(alpha.astype(real.dtype)).reshape(-1, 1, 1, 1)
    x = a * real + (1 - a) * fake
    trains = D.requires_grad
    D.freeze(True)                          # g only: sum(D) must not train D
    out = D.forward(x)
    g = D.backward(xp.ones_like(out)) + GP_EPS
    D.freeze(not trains)
    n = x.shape[0]
    norms = xp.sqrt((g * g).reshape(n, -1).sum(axis=1))
    penalty = xp.asarray(lambda_gp * ((norms - 1) ** 2).sum() / n)
    # v = dP/dg = 2 lambda / n (||g_n|| - 1) g_n / ||g_n||
    v = g * ((2.0 * lambda_gp / n) * (norms - 1) / norms).reshape(-1, 1, 1, 1)
    _, ty, caches = tangent_forward(D, x, v.astype(x.dtype))
    tangent_backward(D, caches, None, xp.ones_like(ty))
    return penalty
