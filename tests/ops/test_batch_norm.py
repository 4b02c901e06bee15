"""batch_norm2d: forward and running statistics as PyTorch defines them; backward vs
central finite differences in float64."""
import numpy as np
import pytest

from p2p_cupy.gradcheck.check import numeric_gradient
from p2p_cupy.ops.batch_norm import batch_norm2d_backward, batch_norm2d_forward


def _inputs(rng, shape=(3, 4, 5, 6)):
    x = rng.standard_normal(shape) * 2 + 0.5
    gamma = 1 + 0.3 * rng.standard_normal(shape[1])
    beta = 0.3 * rng.standard_normal(shape[1])
    return x, gamma, beta


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_training_forward_and_running_stats_match_pytorch(bk, rng, dtype):
    x, gamma, beta = _inputs(rng)
    running_mean, running_var = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    # copies: the op updates the buffers in place, and asarray may not copy
    rm, rv = bk.asarray(running_mean.copy(), dtype), bk.asarray(running_var.copy(), dtype)
    y, _ = batch_norm2d_forward(*(bk.asarray(a, dtype) for a in (x, gamma, beta)), rm, rv,
                                training=True)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    expected = ((x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
                * gamma[:, None, None] + beta[:, None, None])
    tol = 1e-4 if dtype == np.float32 else 1e-12
    assert bk.to_numpy(y).dtype == dtype
    assert np.allclose(bk.to_numpy(y), expected, atol=tol)
    # PyTorch: running = 0.9 running + 0.1 batch, with the UNBIASED batch variance
    unbiased = x.var(axis=(0, 2, 3), ddof=1)
    assert np.allclose(bk.to_numpy(rm), 0.9 * running_mean + 0.1 * mean, atol=tol)
    assert np.allclose(bk.to_numpy(rv), 0.9 * running_var + 0.1 * unbiased, atol=tol)


def test_batch_norm_eval_uses_running_stats_and_leaves_them(bk, rng):
    x, gamma, beta = _inputs(rng)
    running_mean, running_var = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    rm, rv = bk.asarray(running_mean.copy()), bk.asarray(running_var.copy())
    y, _ = batch_norm2d_forward(bk.asarray(x), bk.asarray(gamma), bk.asarray(beta), rm, rv,
                                training=False)
    c = (slice(None), None, None)
    expected = (x - running_mean[c]) / np.sqrt(running_var[c] + 1e-5) * gamma[c] + beta[c]
    assert np.allclose(bk.to_numpy(y), expected, atol=1e-12)
    assert np.array_equal(bk.to_numpy(rm), running_mean)
    assert np.array_equal(bk.to_numpy(rv), running_var)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_backward_matches_finite_differences(bk, rng, training):
    x, gamma, beta = _inputs(rng, (2, 3, 3, 2))
    weights = rng.standard_normal(x.shape)              # loss = sum(y * weights)
    running_mean, running_var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)

    def loss():
        y, _ = batch_norm2d_forward(bk.asarray(x), bk.asarray(gamma), bk.asarray(beta),
                                    bk.asarray(running_mean.copy()),
                                    bk.asarray(running_var.copy()), training)
        return float((bk.to_numpy(y) * weights).sum())

    _, cache = batch_norm2d_forward(bk.asarray(x), bk.asarray(gamma), bk.asarray(beta),
                                    bk.asarray(running_mean.copy()),
                                    bk.asarray(running_var.copy()), training)
    dx, dgamma, dbeta = (bk.to_numpy(g) for g in
                         batch_norm2d_backward(bk.asarray(weights), cache))
    assert np.allclose(dx, numeric_gradient(loss, x), atol=1e-7, rtol=1e-5)
    assert np.allclose(dgamma, numeric_gradient(loss, gamma), atol=1e-7, rtol=1e-5)
    assert np.allclose(dbeta, numeric_gradient(loss, beta), atol=1e-7, rtol=1e-5)
