"""Activations: forward vs their formulas, backward vs finite differences (away from kinks)."""
import numpy as np
import pytest

from p2p_cupy.ops import activations as act


def _away_from_zero(rng, shape):
    x = rng.standard_normal(shape)
    return x + np.copysign(0.1, x)                     # |x| >= 0.1: no kink within h


OPS = {  # name: (forward(x), backward, formula)
    "leaky_relu": (lambda x: act.leaky_relu_forward(x, 0.2), act.leaky_relu_backward,
                   lambda x: np.where(x > 0, x, 0.2 * x)),
    "relu": (act.relu_forward, act.relu_backward, lambda x: np.maximum(x, 0)),
    "tanh": (act.tanh_forward, act.tanh_backward, np.tanh),
    "sigmoid": (act.sigmoid_forward, act.sigmoid_backward, lambda x: 1 / (1 + np.exp(-x))),
}


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_forward_matches_formula(bk, rng, name, dtype):
    forward, _, formula = OPS[name]
    x = _away_from_zero(rng, (2, 3, 4, 5)).astype(dtype)
    y = bk.to_numpy(forward(bk.asarray(x))[0])
    assert y.dtype == dtype
    assert np.allclose(y, formula(x.astype(np.float64)), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", OPS)
def test_activation_backward_matches_finite_differences(bk, rng, name):
    forward, backward, _ = OPS[name]
    x = _away_from_zero(rng, (2, 3, 2, 2))
    dy = rng.standard_normal(x.shape)
    _, cache = forward(bk.asarray(x))
    dx = bk.to_numpy(backward(bk.asarray(dy), cache))
    h = 1e-6
    # elementwise ops: a perturbation of every element at once moves each output by itself
    numeric = (bk.to_numpy(forward(bk.asarray(x + h))[0])
               - bk.to_numpy(forward(bk.asarray(x - h))[0])) / (2 * h) * dy
    assert np.allclose(dx, numeric, rtol=1e-6, atol=1e-8)


def test_sigmoid_is_finite_and_saturates_for_huge_logits(bk):
    x = bk.asarray(np.array([-1e4, -100.0, 0.0, 100.0, 1e4], np.float32))
    y = bk.to_numpy(act.sigmoid_forward(x)[0])
    assert np.all(np.isfinite(y))
    assert y[0] == 0 and y[2] == 0.5 and y[-1] == 1
