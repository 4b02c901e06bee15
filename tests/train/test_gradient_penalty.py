"""WGAN-GP: the hand-derived gradient of the penalty against finite differences, and the
tangent (forward-mode) pass it is built on, on every backend."""
import numpy as np
import pytest

from p2p_cupy import nn
from p2p_cupy.models import define_D
from p2p_cupy.nn.tangent import tangent_backward, tangent_forward
from p2p_cupy.train.gradient_penalty import gradient_penalty, wgan_loss


def _flat_params(bk, D):
    return np.concatenate([bk.to_numpy(p.data).ravel() for p in D.parameters()])


def _set_params(bk, D, flat):
    start = 0
    for p in D.parameters():
        p.data[...] = bk.asarray(flat[start:start + p.data.size].reshape(p.data.shape))
        start += p.data.size


@pytest.mark.parametrize("netD,norm", [("n_layers", "batch"), ("n_layers", "instance"),
                                       ("pixel", "batch"), ("n_layers", "none")])
def test_penalty_gradient_matches_finite_differences(bk, netD, norm):
    rng = np.random.default_rng(3)
    D = define_D(netD, input_nc=4, ndf=3, n_layers_D=2, norm=norm, seed=5).astype(np.float64)
    real = bk.asarray(rng.standard_normal((2, 4, 20, 20)))
    fake = bk.asarray(rng.standard_normal((2, 4, 20, 20)))
    alpha = np.array([0.3, 0.8])
    D.zero_grad()
    gradient_penalty(D, real, fake, alpha, lambda_gp=10.0)
    analytic = np.concatenate([bk.to_numpy(p.grad).ravel() for p in D.parameters()])
    assert np.abs(analytic).max() > 0
    theta = _flat_params(bk, D)

    def penalty_at(params):
        _set_params(bk, D, params)
        return float(bk.to_numpy(gradient_penalty(D, real, fake, alpha, 10.0)))
    h = 1e-6
    for _ in range(3):
        d = rng.standard_normal(theta.size)
        numeric = (penalty_at(theta + h * d) - penalty_at(theta - h * d)) / (2 * h)
        assert numeric == pytest.approx(float(analytic @ d), rel=1e-5, abs=1e-8)


def test_tangent_forward_is_the_directional_derivative_and_its_input_adjoints(bk):
    rng = np.random.default_rng(4)
    D = define_D("n_layers", input_nc=2, ndf=3, n_layers_D=2, seed=1).astype(np.float64)
    layers = list(D) + [nn.InstanceNorm2d(1)]
    x = bk.asarray(rng.standard_normal((2, 2, 20, 20)))
    t = bk.asarray(rng.standard_normal((2, 2, 20, 20)))
    y, ty, caches = tangent_forward(layers, x, t)
    h = 1e-6
    plus, _, _ = tangent_forward(layers, x + h * t, t)
    minus, _, _ = tangent_forward(layers, x - h * t, t)
    np.testing.assert_allclose(bk.to_numpy(ty), bk.to_numpy(plus - minus) / (2 * h),
                               rtol=1e-5, atol=1e-8)
    # reverse pass: d<a, y> + <b, ty> / d(x, t) along random directions
    a, b = (bk.asarray(rng.standard_normal(y.shape)) for _ in range(2))
    D.freeze(True)
    gx, gt = tangent_backward(layers, caches, a, b, need_input_grad=True)

    def f(xx, tt):
        yy, tyy, _ = tangent_forward(layers, xx, tt)
        return float(bk.to_numpy((a * yy).sum() + (b * tyy).sum()))
    dx, dt = (bk.asarray(rng.standard_normal(x.shape)) for _ in range(2))
    numeric = (f(x + h * dx, t + h * dt) - f(x - h * dx, t - h * dt)) / (2 * h)
    analytic = float(bk.to_numpy((gx * dx).sum() + (gt * dt).sum()))
    assert numeric == pytest.approx(analytic, rel=1e-5)


def test_wgan_loss_signs_and_gradients(bk):
    pred = bk.asarray(np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3))
    loss, grad = wgan_loss(pred, True)
    assert float(bk.to_numpy(loss)) == pytest.approx(-2.5)
    np.testing.assert_allclose(bk.to_numpy(grad(0.5)), -0.5 / 6)
    loss, grad = wgan_loss(pred, False)
    assert float(bk.to_numpy(loss)) == pytest.approx(2.5)
    np.testing.assert_allclose(bk.to_numpy(grad()), 1 / 6)
