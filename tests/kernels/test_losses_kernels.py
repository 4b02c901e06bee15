"""kernels/losses.cu launched directly: each loss value reduced on the device (per-block
partial sums over 3 blocks, then their ordered total), and its gradient, against NumPy,
with an array target and with a scalar label; emu in both block orders."""
import numpy as np
import pytest

TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _reference(name, x, t):
    x, t = x.astype(np.float64), np.broadcast_to(t, x.shape).astype(np.float64)
    n = x.size
    if name == "bce_with_logits":
        value = np.mean(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x))))
        return value, (1 / (1 + np.exp(-x)) - t) / n
    if name == "mse":
        return np.mean((x - t) ** 2), 2 * (x - t) / n
    return np.mean(np.abs(x - t)), np.sign(x - t) / n


@pytest.mark.parametrize("n", [7, 1000])           # fewer values than threads; several each
@pytest.mark.parametrize("label", [False, True])
@pytest.mark.parametrize("name", ["bce_with_logits", "mse", "l1"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_kernels_match_numpy(ordered_kernel_bk, name, label, n, dtype, rng):
    bk = ordered_kernel_bk
    x = (rng.standard_normal(n) * 3).astype(dtype)
    t = np.array([1.0], dtype) if label else rng.random(n).astype(dtype)
    t_stride = np.int32(0 if label else 1)
    xs, ts = bk.asarray(x), bk.asarray(t)
    loss, partial = bk.xp.empty((), dtype), bk.xp.empty(3, np.float64)
    grad = bk.xp.empty(n, dtype)
    if name == "bce_with_logits":
        bk.kernel("losses", "bce_with_logits_partial", dtype)(
            (3,), (128,), (xs, ts, t_stride, partial, np.int64(n)))
        bk.kernel("losses", "bce_with_logits_bwd", dtype)(
            (2,), (64,), (xs, ts, t_stride, grad, np.int64(n), dtype(1 / n)))
    else:
        cache = bk.xp.empty(n, dtype)    # mse: p - t; l1: sign(p - t)
        bk.kernel("losses", f"{name}_partial", dtype)(
            (3,), (128,), (xs, ts, t_stride, cache, partial, np.int64(n)))
        scale = dtype((2 if name == "mse" else 1) / n)
        bk.kernel("losses", f"{name}_bwd", dtype)((2,), (64,), (cache, grad, np.int64(n), scale))
    bk.kernel("losses", "loss_total", dtype)((1,), (32,), (partial, np.int32(3), loss, np.int64(n)))
    ref_value, ref_grad = _reference(name, x, t if not label else t[0])
    np.testing.assert_allclose(float(bk.to_numpy(loss)), ref_value, rtol=TOL[dtype])
    np.testing.assert_allclose(bk.to_numpy(grad), ref_grad, rtol=TOL[dtype], atol=TOL[dtype] / n)
