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


def _softmax_cross_entropy_reference(x, t):
    """(mean loss, d loss/d x) of logits (N, C, H, W) and class indices (N, H, W)."""
    x = x.astype(np.float64)
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.moveaxis(np.eye(x.shape[1])[t], -1, 1)
    return -np.mean(np.sum(onehot * np.log(p), 1)), (p - onehot) / t.size


def _softmax_cross_entropy_kernels(bk, x, t):
    """(loss, softmax cache, gradient) on the host, from the two kernels launched directly."""
    dtype = x.dtype.type
    n, c, h, w = x.shape
    xs, ts = bk.asarray(x), bk.asarray(t.astype(np.int32))
    probs, loss, grad = bk.xp.empty_like(xs), bk.xp.empty((), dtype), bk.xp.empty_like(xs)
    partial = bk.xp.empty(2, np.float64)           # 2 blocks of partial sums, then the total
    bk.kernel("losses", "softmax_cross_entropy_partial", dtype)(
        (2,), (64,), (xs, ts, probs, partial, np.int64(t.size), np.int32(c), np.int64(h * w)))
    bk.kernel("losses", "loss_total", dtype)((1,), (32,), (partial, np.int32(2), loss,
                                                         np.int64(t.size)))
    bk.kernel("losses", "softmax_cross_entropy_bwd", dtype)(
        (3,), (64,), (probs, ts, grad, np.int64(x.size), np.int32(c), np.int64(h * w),
                      dtype(1 / t.size)))
    return float(bk.to_numpy(loss)), bk.to_numpy(probs), bk.to_numpy(grad)


@pytest.mark.parametrize("shape", [(1, 3, 2, 2), (2, 5, 7, 9)])   # pixels < threads; more
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_kernels_match_numpy(kernel_bk, shape, dtype, rng):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    x[0, 0, 0, 0] = 80.0                                    # exp(80) overflows float32
    t = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    loss, probs, grad = _softmax_cross_entropy_kernels(kernel_bk, x, t)
    ref_loss, ref_grad = _softmax_cross_entropy_reference(x, t)
    np.testing.assert_allclose(loss, ref_loss, rtol=TOL[dtype])
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=TOL[dtype])
    np.testing.assert_allclose(grad, ref_grad, rtol=TOL[dtype], atol=TOL[dtype] / t.size)


def test_softmax_cross_entropy_kernels_are_independent_of_thread_order(rng):
    from p2p_cupy import backend
    from p2p_cupy.kernels.loader import thread_order
    try:
        emu = backend.get_backend("emu")
    except backend.BackendUnavailable as e:
        pytest.skip(str(e))
    x = rng.standard_normal((2, 4, 9, 11)).astype(np.float32)
    t = rng.integers(0, 4, (2, 9, 11))
    forward = _softmax_cross_entropy_kernels(emu, x, t)
    with thread_order("reverse"):
        reverse = _softmax_cross_entropy_kernels(emu, x, t)
    assert forward[0] == reverse[0]                     # the fixed reduction order
    for a, b in zip(forward[1:], reverse[1:]):
        np.testing.assert_array_equal(a, b)
