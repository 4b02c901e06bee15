"""kernels/batch_norm.cu launched directly, against NumPy formulas, on emu (and cuda)."""
import numpy as np
import pytest

from p2p_cupy.kernels.loader import thread_order

TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _train_forward(bk, x, gamma, beta, momentum=0.1, eps=1e-5):
    n, c, h, w = x.shape
    dt = x.dtype.type
    args = [bk.asarray(a) for a in (x, gamma, beta)]
    y = bk.xp.empty_like(args[0])
    mean, inv_std = bk.xp.empty(c, x.dtype), bk.xp.empty(c, x.dtype)
    run_mean, run_var = bk.asarray(np.zeros(c, x.dtype)), bk.asarray(np.ones(c, x.dtype))
    bk.kernel("batch_norm", "batch_norm_train_fwd", dt)(
        (c,), (128,), (*args, y, mean, inv_std, run_mean, run_var, np.int32(n), np.int32(c),
                       np.int32(h * w), np.float64(momentum), np.float64(eps)))
    return [bk.to_numpy(a) for a in (y, mean, inv_std, run_mean, run_var)]


# (2, 3, 17, 19): 646 values per channel, more than the block; (3, 5, 1, 1): fewer than a warp
@pytest.mark.parametrize("shape", [(2, 3, 17, 19), (3, 5, 1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_train_forward_matches_numpy(kernel_bk, shape, dtype, rng):
    # an offset of 1000 >> std: one-pass sums without the shift would lose float32 digits
    x = (rng.standard_normal(shape) * 2 + 1000).astype(dtype)
    c = shape[1]
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    y, mean, inv_std, run_mean, run_var = _train_forward(kernel_bk, x, gamma, beta)
    x64 = x.astype(np.float64)
    ref_mean, ref_var = x64.mean(axis=(0, 2, 3)), x64.var(axis=(0, 2, 3))
    m = x.size // c
    ref_inv_std = 1 / np.sqrt(ref_var + 1e-5)
    per = lambda v: v[:, None, None]  # noqa: E731
    ref_y = (x64 - per(ref_mean)) * per(ref_inv_std * gamma) + per(beta)
    tol = TOL[dtype]
    np.testing.assert_allclose(mean, ref_mean, rtol=tol)
    np.testing.assert_allclose(inv_std, ref_inv_std, rtol=tol * 10)
    np.testing.assert_allclose(y, ref_y, rtol=tol * 10, atol=tol * 100)
    np.testing.assert_allclose(run_mean, 0.1 * ref_mean, rtol=tol)
    np.testing.assert_allclose(run_var, 0.9 + 0.1 * ref_var * m / max(m - 1, 1), rtol=tol * 10)


@pytest.mark.parametrize("training", [1, 0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_backward_matches_numpy(kernel_bk, training, dtype, rng):
    shape = (2, 3, 11, 13)
    x, dy = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    c = shape[1]
    mean = x.mean(axis=(0, 2, 3)).astype(dtype)
    inv_std = (1 / np.sqrt(x.var(axis=(0, 2, 3)) + 1e-5)).astype(dtype)
    gamma = rng.standard_normal(c).astype(dtype)
    bk = kernel_bk
    dx, dgamma, dbeta = bk.xp.empty(shape, dtype), bk.xp.empty(c, dtype), bk.xp.empty(c, dtype)
    bk.kernel("batch_norm", "batch_norm_bwd", dtype)(
        (c,), (96,), (*(bk.asarray(a) for a in (x, dy, mean, inv_std, gamma)), dx, dgamma, dbeta,
                      np.int32(2), np.int32(c), np.int32(11 * 13), np.int32(training)))
    per = lambda v: v[:, None, None]  # noqa: E731
    xhat = (x - per(mean)) * per(inv_std)
    ref_dbeta, ref_dgamma = dy.sum(axis=(0, 2, 3)), (dy * xhat).sum(axis=(0, 2, 3))
    ref_dx = per(gamma * inv_std) * dy
    if training:
        m = x.size // c
        ref_dx = per(gamma * inv_std) * (dy - per(ref_dbeta) / m - xhat * per(ref_dgamma) / m)
    tol = TOL[dtype] * 10
    np.testing.assert_allclose(bk.to_numpy(dbeta), ref_dbeta, rtol=tol, atol=tol)
    np.testing.assert_allclose(bk.to_numpy(dgamma), ref_dgamma, rtol=tol, atol=tol)
    np.testing.assert_allclose(bk.to_numpy(dx), ref_dx, rtol=tol, atol=tol)


def test_batch_norm_eval_forward_is_a_per_channel_affine_map(kernel_bk, rng):
    x = rng.standard_normal((2, 3, 5, 7))
    scale, shift = rng.standard_normal(3), rng.standard_normal(3)
    y = kernel_bk.xp.empty(x.shape)
    kernel_bk.kernel("batch_norm", "batch_norm_eval_fwd", np.float64)(
        (1,), (64,), (*(kernel_bk.asarray(a) for a in (x, scale, shift)), y, np.int64(x.size),
                      np.int32(3), np.int32(35)))
    np.testing.assert_allclose(kernel_bk.to_numpy(y),
                               x * scale[:, None, None] + shift[:, None, None], rtol=1e-12)


def test_batch_norm_reduction_is_independent_of_thread_order(rng):
    from p2p_cupy import backend
    try:
        emu = backend.get_backend("emu")
    except backend.BackendUnavailable as e:
        pytest.skip(str(e))
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    gamma, beta = np.ones(3, np.float32), np.zeros(3, np.float32)
    forward, = [_train_forward(emu, x, gamma, beta)]
    with thread_order("reverse"):
        reverse = _train_forward(emu, x, gamma, beta)
    for a, b in zip(forward, reverse):
        np.testing.assert_array_equal(a, b)
