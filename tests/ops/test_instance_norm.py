"""instance_norm2d: per-sample, per-channel statistics; backward vs finite differences."""
import numpy as np
import pytest

from p2p_cupy.gradcheck.check import numeric_gradient
from p2p_cupy.ops.instance_norm import instance_norm2d_backward, instance_norm2d_forward


@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm_forward_uses_each_instance_statistics(bk, rng, affine):
    x = rng.standard_normal((2, 3, 4, 5)) * 3 + rng.standard_normal((2, 3, 1, 1))
    gamma, beta = (1 + rng.standard_normal(3) * 0.3, rng.standard_normal(3)) if affine \
        else (None, None)
    args = [bk.asarray(a) if a is not None else None for a in (x, gamma, beta)]
    y = bk.to_numpy(instance_norm2d_forward(*args)[0])
    expected = (x - x.mean(axis=(2, 3), keepdims=True)) / np.sqrt(
        x.var(axis=(2, 3), keepdims=True) + 1e-5)
    if affine:
        expected = expected * gamma[:, None, None] + beta[:, None, None]
    assert np.allclose(y, expected, atol=1e-12)


def test_instance_norm_float32_stays_float32(bk, rng):
    x = bk.asarray(rng.standard_normal((1, 2, 3, 3)), np.float32)
    y, cache = instance_norm2d_forward(x)
    assert y.dtype == np.float32
    assert instance_norm2d_backward(y, cache)[0].dtype == np.float32


@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm_backward_matches_finite_differences(bk, rng, affine):
    x = rng.standard_normal((2, 2, 3, 3))
    gamma, beta = 1 + 0.3 * rng.standard_normal(2), 0.3 * rng.standard_normal(2)
    weights = rng.standard_normal(x.shape)

    def run():
        args = (bk.asarray(gamma), bk.asarray(beta)) if affine else (None, None)
        return instance_norm2d_forward(bk.asarray(x), *args)

    def loss():
        return float((bk.to_numpy(run()[0]) * weights).sum())

    dx, dgamma, dbeta = instance_norm2d_backward(bk.asarray(weights), run()[1])
    assert np.allclose(bk.to_numpy(dx), numeric_gradient(loss, x), atol=1e-7, rtol=1e-5)
    if affine:
        assert np.allclose(bk.to_numpy(dgamma), numeric_gradient(loss, gamma), atol=1e-7)
        assert np.allclose(bk.to_numpy(dbeta), numeric_gradient(loss, beta), atol=1e-7)
    else:
        assert dgamma is None and dbeta is None
