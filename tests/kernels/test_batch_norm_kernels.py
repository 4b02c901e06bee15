"""kernels/batch_norm.cu launched as ops/batch_norm.py launches it (two kernels per
reduction), against NumPy formulas; emu in both block orders (and cuda). Planes are cut
into several chunks here (small MIN_CHUNK), so the slice sums meet across blocks."""
import numpy as np
import pytest

from p2p_cupy.ops import batch_norm, launch

TOL = {np.float32: 1e-5, np.float64: 1e-12}


@pytest.fixture(params=["one chunk", "chunks"])
def chunking(request, monkeypatch):
    """As the ops cut planes for a large GPU, or into many 32-element chunks (with a
    partly filled last one) so that every reduction crosses blocks."""
    if request.param == "chunks":
        monkeypatch.setattr(launch, "MIN_CHUNK", 32)
        monkeypatch.setattr(launch, "TARGET_BLOCKS", 10**6)
    return request.param


def _train_forward(bk, x, gamma, beta, momentum=0.1, eps=1e-5):
    c = x.shape[1]
    run_mean, run_var = bk.asarray(np.zeros(c, x.dtype)), bk.asarray(np.ones(c, x.dtype))
    y, mean, inv_std = batch_norm.kernel_train_forward(
        bk, *(bk.asarray(a) for a in (x, gamma, beta)), run_mean, run_var, momentum, eps)
    return [bk.to_numpy(a) for a in (y, mean, inv_std, run_mean, run_var)]


# (2, 3, 17, 19): 646 values per channel, 323 per plane (11 chunks of 32, the last one
# partly filled); (3, 5, 1, 1): fewer values than a warp
@pytest.mark.parametrize("shape", [(2, 3, 17, 19), (3, 5, 1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_train_forward_matches_numpy(ordered_kernel_bk, chunking, shape, dtype, rng):
    # an offset of 1000 >> std: one-pass sums without the shift would lose float32 digits
    x = (rng.standard_normal(shape) * 2 + 1000).astype(dtype)
    c = shape[1]
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    y, mean, inv_std, run_mean, run_var = _train_forward(ordered_kernel_bk, x, gamma, beta)
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
def test_batch_norm_backward_matches_numpy(ordered_kernel_bk, chunking, training, dtype, rng):
    shape = (2, 3, 11, 13)
    x, dy = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    c = shape[1]
    mean = x.mean(axis=(0, 2, 3)).astype(dtype)
    inv_std = (1 / np.sqrt(x.var(axis=(0, 2, 3)) + 1e-5)).astype(dtype)
    gamma = rng.standard_normal(c).astype(dtype)
    bk = ordered_kernel_bk
    dx, dgamma, dbeta = (bk.to_numpy(a) for a in batch_norm.kernel_backward(
        bk, *(bk.asarray(a) for a in (x, dy, mean, inv_std, gamma)), training))
    per = lambda v: v[:, None, None]  # noqa: E731
    xhat = (x - per(mean)) * per(inv_std)
    ref_dbeta, ref_dgamma = dy.sum(axis=(0, 2, 3)), (dy * xhat).sum(axis=(0, 2, 3))
    ref_dx = per(gamma * inv_std) * dy
    if training:
        m = x.size // c
        ref_dx = per(gamma * inv_std) * (dy - per(ref_dbeta) / m - xhat * per(ref_dgamma) / m)
    tol = TOL[dtype] * 10
    np.testing.assert_allclose(dbeta, ref_dbeta, rtol=tol, atol=tol)
    np.testing.assert_allclose(dgamma, ref_dgamma, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, ref_dx, rtol=tol, atol=tol)


def test_batch_norm_eval_forward_is_a_per_channel_affine_map(ordered_kernel_bk, rng):
    bk = ordered_kernel_bk
    x = rng.standard_normal((2, 3, 5, 7))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    run_mean, run_var = rng.standard_normal(3), rng.random(3) + 0.5
    y, _ = batch_norm.batch_norm2d_forward(*(bk.asarray(a) for a in (x, gamma, beta, run_mean,
                                                                    run_var)), training=False)
    scale = gamma / np.sqrt(run_var + 1e-5)
    np.testing.assert_allclose(bk.to_numpy(y), (x - run_mean[:, None, None]) * scale[:, None, None]
                               + beta[:, None, None], rtol=1e-12, atol=1e-12)


def test_chunks_cover_each_plane_exactly_once():
    for n, c, hw in [(1, 64, 128 * 128), (16, 64, 128 * 128), (1, 512, 1), (1, 3, 1000)]:
        chunks, chunk_len = launch.plane_chunks(n, c, hw)
        assert (chunks - 1) * chunk_len < hw <= chunks * chunk_len
    assert launch.plane_chunks(1, 64, 128 * 128)[0] == 16   # 1024 blocks at batch 1


def test_one_slice_per_channel_is_summed_by_the_apply_kernels_alone(ordered_kernel_bk,
                                                                    monkeypatch, rng):
    """Batch 1 with one chunk per plane: no partial kernels (own = 1), and the same bits
    as the two-kernel path (own = 0 forced), whose slice sums meet zeros only."""
    bk = ordered_kernel_bk
    x, dy = (rng.standard_normal((1, 3, 17, 19)).astype(np.float32) + 3 for _ in range(2))
    gamma, beta = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    launched = []
    kernel = bk.kernel
    monkeypatch.setattr(bk, "kernel", lambda family, op, dtype: launched.append(op) or kernel(
        family, op, dtype))

    def forward_and_backward():
        launched.clear()
        y, mean, inv_std, _, _ = _train_forward(bk, x, gamma, beta)
        grads = batch_norm.kernel_backward(bk, *(bk.asarray(a) for a in (x, dy, mean, inv_std,
                                                                          gamma)), 1)
        return [y, mean, inv_std] + [bk.to_numpy(g) for g in grads], list(launched)

    alone, ops = forward_and_backward()
    assert ops == ["batch_norm_train_apply", "batch_norm_bwd_apply"]
    two_kernels = batch_norm._reduction_launch
    monkeypatch.setattr(batch_norm, "_reduction_launch", lambda *a: (
        lambda g, b, geometry, p: (g, b, geometry[:-1] + (np.int32(0),), p))(*two_kernels(*a)))
    both, ops = forward_and_backward()
    assert ops == ["batch_norm_stats_partial", "batch_norm_train_apply",
                   "batch_norm_bwd_partial", "batch_norm_bwd_apply"]
    for a, b in zip(alone, both):
        np.testing.assert_array_equal(a, b)
