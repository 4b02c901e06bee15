"""Losses: values vs their formulas, 0-d backend results, gradients, BCE stability."""
import numpy as np
import pytest

from p2p_cupy.ops import losses


def _bce_reference(x, t):
    s = 1 / (1 + np.exp(-x))
    return np.mean(-(t * np.log(s) + (1 - t) * np.log(1 - s)))


LOSSES = {  # name: (forward, backward, reference(pred, target))
    "bce_with_logits": (losses.bce_with_logits_forward, losses.bce_with_logits_backward,
                        _bce_reference),
    "mse": (losses.mse_forward, losses.mse_backward, lambda p, t: np.mean((p - t) ** 2)),
    "l1": (losses.l1_forward, losses.l1_backward, lambda p, t: np.mean(np.abs(p - t))),
}


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_value_is_a_0d_backend_array_matching_formula(bk, rng, name, dtype):
    forward, _, reference = LOSSES[name]
    pred, target = rng.standard_normal((2, 1, 5, 5)), rng.uniform(0, 1, (2, 1, 5, 5))
    loss, _ = forward(bk.asarray(pred, dtype), bk.asarray(target, dtype))
    assert isinstance(loss, bk.xp.ndarray) and loss.shape == () and loss.dtype == dtype
    assert np.isclose(float(bk.to_numpy(loss)), reference(pred, target), rtol=1e-5)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("target_kind", ["array", "label"])
def test_loss_backward_matches_finite_differences(bk, rng, name, target_kind):
    forward, backward, _ = LOSSES[name]
    target = rng.uniform(0, 1, (2, 1, 3, 3)) if target_kind == "array" else 1.0
    pred = rng.standard_normal((2, 1, 3, 3))
    pred += np.copysign(0.1, pred - target)            # away from l1's kink at pred == target
    t = bk.asarray(target) if target_kind == "array" else target
    _, cache = forward(bk.asarray(pred), t)
    dloss = 2.5
    grad = bk.to_numpy(backward(cache, dloss))
    h, numeric = 1e-6, np.zeros(pred.shape)
    for i in np.ndindex(pred.shape):
        e = np.zeros(pred.shape)
        e[i] = h
        plus = float(bk.to_numpy(forward(bk.asarray(pred + e), t)[0]))
        minus = float(bk.to_numpy(forward(bk.asarray(pred - e), t)[0]))
        numeric[i] = dloss * (plus - minus) / (2 * h)
    assert np.allclose(grad, numeric, rtol=1e-5, atol=1e-9)


def test_loss_gradient_keeps_float32_with_any_scale(bk, rng):
    pred = bk.asarray(rng.standard_normal((1, 1, 2, 2)), np.float32)
    for forward, backward, _ in LOSSES.values():
        _, cache = forward(pred, 0.0)
        assert backward(cache, np.float64(100.0)).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_is_finite_for_huge_logits(bk, dtype):
    logits = bk.asarray(np.array([[-1e4, 1e4], [1e4, -1e4]]), dtype)
    target = bk.asarray(np.array([[0.0, 1.0], [0.0, 1.0]]), dtype)
    loss, cache = losses.bce_with_logits_forward(logits, target)
    grad = bk.to_numpy(losses.bce_with_logits_backward(cache))
    # two confident right answers (loss 0) and two confident wrong ones (loss 1e4 each)
    assert np.isclose(float(bk.to_numpy(loss)), 0.5e4)
    assert np.array_equal(grad, np.array([[0.0, 0.0], [0.25, -0.25]], dtype))


def test_loss_rejects_mismatched_target_shape(bk):
    with pytest.raises(ValueError, match="mse: target shape"):
        losses.mse_forward(bk.asarray(np.zeros((1, 1, 2, 2))), bk.asarray(np.zeros((1, 1, 2))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_value_and_stability(bk, rng, dtype):
    logits = rng.standard_normal((2, 3, 4, 5))
    logits[0, :, 0, 0] = (1e4, -1e4, 0.0)                   # exp would overflow unshifted
    target = rng.integers(0, 3, (2, 4, 5))
    target[0, 0, 0] = 1                                       # a confidently wrong pixel
    loss, cache = losses.softmax_cross_entropy_forward(bk.asarray(logits, dtype),
                                                       bk.asarray(target))
    shifted = logits - logits.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    expected = -np.mean(np.take_along_axis(log_p, target[:, None], 1))
    assert isinstance(loss, bk.xp.ndarray) and loss.shape == () and loss.dtype == dtype
    assert np.isclose(float(bk.to_numpy(loss)), expected, rtol=1e-5)      # ~2e4 / 40
    grad = bk.to_numpy(losses.softmax_cross_entropy_backward(cache, 2.0))
    assert grad.dtype == dtype and np.isfinite(grad).all()
    # d/dx (softmax - onehot): at the wrong pixel, +1 on class 0 and -1 on the target
    np.testing.assert_allclose(grad[0, :, 0, 0], np.array([1, -1, 0]) * 2.0 / 40, atol=1e-7)
    np.testing.assert_allclose(grad.sum(1), 0, atol=1e-6)   # softmax sums to 1 per pixel


def test_softmax_cross_entropy_rejects_mismatched_labels(bk):
    with pytest.raises(ValueError, match=r"class indices \(N, H, W\)"):
        losses.softmax_cross_entropy_forward(bk.asarray(np.zeros((1, 3, 2, 2))),
                                             bk.asarray(np.zeros((1, 2, 3), np.int64)))
