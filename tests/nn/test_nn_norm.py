"""BatchNorm2d and InstanceNorm2d modules: init, running statistics, modes, checks, grads."""
import numpy as np
import pytest

from p2p_cupy import nn


def test_batch_norm_init_follows_pix2pix(bk):
    layer = nn.BatchNorm2d(64, rng=np.random.default_rng(0))
    gamma = bk.to_numpy(layer.weight.data)
    assert gamma.dtype == np.float32 and abs(gamma.mean() - 1) < 0.01
    assert 0.01 < gamma.std() < 0.03
    assert not bk.to_numpy(layer.bias.data).any()
    assert set(layer.state_dict()) == {"weight", "bias", "running_mean", "running_var"}


def test_batch_norm_running_stats_converge_to_data_stats_then_eval_uses_them(bk, rng):
    layer = nn.BatchNorm2d(3).astype(np.float64)
    x = rng.standard_normal((4, 3, 5, 5)) * np.array([1, 2, 3])[:, None, None] + 5
    for _ in range(100):                               # 0.9**100 ~ 3e-5 of the init remains
        layer.forward(bk.asarray(x))
    assert np.allclose(bk.to_numpy(layer.running_mean), x.mean(axis=(0, 2, 3)), atol=1e-3)
    assert np.allclose(bk.to_numpy(layer.running_var), x.var(axis=(0, 2, 3), ddof=1),
                       rtol=1e-3)
    train_y = bk.to_numpy(layer.forward(bk.asarray(x)))
    layer.eval()
    before = bk.to_numpy(layer.running_mean).copy()
    eval_y = bk.to_numpy(layer.forward(bk.asarray(x)))
    assert np.array_equal(bk.to_numpy(layer.running_mean), before)
    # running var is unbiased (x M/(M-1)), so eval output is slightly smaller than training's
    assert np.allclose(eval_y, train_y * np.sqrt(99 / 100), atol=1e-3)


def test_batch_norm_backward_accumulates_and_respects_freeze(bk, rng):
    layer = nn.BatchNorm2d(2)
    x = bk.asarray(rng.standard_normal((2, 2, 3, 3)), np.float32)
    dy = bk.asarray(rng.standard_normal((2, 2, 3, 3)), np.float32)
    layer.forward(x)
    layer.backward(dy)
    once = bk.to_numpy(layer.bias.grad).copy()
    assert np.allclose(once, bk.to_numpy(dy).sum(axis=(0, 2, 3)), rtol=1e-5)
    layer.forward(x)
    layer.backward(dy)
    assert np.allclose(bk.to_numpy(layer.bias.grad), 2 * once)
    layer.freeze()
    layer.forward(x)
    dx = layer.backward(dy)
    assert dx.shape == x.shape
    assert np.allclose(bk.to_numpy(layer.bias.grad), 2 * once)


@pytest.mark.parametrize("make, x_shape, x_dtype, message", [
    (lambda: nn.BatchNorm2d(3), (2, 4, 5, 5), np.float32, r"BatchNorm2d\(3\).*\(N, 3, H, W\)"),
    (lambda: nn.BatchNorm2d(3), (2, 3, 5), np.float32, r"\(N, 3, H, W\).*\(2, 3, 5\)"),
    (lambda: nn.BatchNorm2d(3), (2, 3, 5, 5), np.float64, "expected dtype float32"),
    (lambda: nn.BatchNorm2d(3), (1, 3, 1, 1), np.float32, "more than 1 value per channel"),
    (lambda: nn.InstanceNorm2d(3), (2, 2, 5, 5), np.float32, r"InstanceNorm2d.*\(N, 3, H, W\)"),
    (lambda: nn.InstanceNorm2d(3, affine=True), (2, 3, 5, 5), np.float64, "float32"),
])
def test_norm_layers_reject_bad_input(bk, make, x_shape, x_dtype, message):
    with pytest.raises(ValueError, match=message):
        make().forward(bk.asarray(np.zeros(x_shape, x_dtype)))


def test_instance_norm_is_the_same_in_train_and_eval(bk, rng):
    layer = nn.InstanceNorm2d(3, affine=True, rng=rng)
    assert not list(layer.named_buffers())             # no running statistics
    x = bk.asarray(rng.standard_normal((2, 3, 4, 4)) * 3 + 1, np.float32)
    y_train = bk.to_numpy(layer.forward(x))
    y_eval = bk.to_numpy(layer.eval().forward(x))
    assert np.array_equal(y_train, y_eval)
    assert nn.InstanceNorm2d(3).parameters() == []
