"""Conv2d and ConvTranspose2d modules: init, shapes, gradient bookkeeping, input checks."""
import numpy as np
import pytest

from p2p_cupy import nn
from p2p_cupy.ops import conv

LAYERS = [(nn.Conv2d, conv.conv2d_forward, conv.conv2d_backward),
          (nn.ConvTranspose2d, conv.conv_transpose2d_forward, conv.conv_transpose2d_backward)]


def test_weights_follow_pytorch_layouts_and_pix2pix_init(bk):
    c = nn.Conv2d(64, 128, 4, 2, 1, rng=np.random.default_rng(1))
    t = nn.ConvTranspose2d(128, 64, 4, 2, 1, rng=np.random.default_rng(1))
    assert c.weight.data.shape == (128, 64, 4, 4) and t.weight.data.shape == (128, 64, 4, 4)
    for layer in (c, t):
        w = bk.to_numpy(layer.weight.data)
        assert w.dtype == np.float32 and layer.bias.data.dtype == np.float32
        assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.02) < 1e-3
        assert not bk.to_numpy(layer.bias.data).any()
    # the same generator state gives the same weights; the default generator is seeded too
    np.testing.assert_array_equal(bk.to_numpy(c.weight.data), bk.to_numpy(t.weight.data))
    np.testing.assert_array_equal(bk.to_numpy(nn.Conv2d(3, 4, 3).weight.data),
                                  bk.to_numpy(nn.Conv2d(3, 4, 3).weight.data))


def test_bias_false_registers_only_the_weight(bk):
    for cls, _, _ in LAYERS:
        layer = cls(3, 4, 4, 2, 1, bias=False)
        assert layer.bias is None and [name for name, _ in layer.named_parameters()] == ["weight"]


@pytest.mark.parametrize("cls,forward_op,backward_op", LAYERS)
def test_module_runs_the_op_and_accumulates_parameter_grads(bk, rng, cls, forward_op, backward_op):
    layer = cls(3, 5, 4, 2, 1, rng=rng)
    layer.bias.data = bk.asarray(rng.standard_normal(5).astype(np.float32))
    x = bk.asarray(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    y = layer(x)
    y_op, cache = forward_op(x, layer.weight.data, layer.bias.data, 2, 1)
    np.testing.assert_array_equal(bk.to_numpy(y), bk.to_numpy(y_op))
    assert y.shape == ((2, 5, 4, 4) if cls is nn.Conv2d else (2, 5, 16, 16))

    dy = bk.asarray(rng.standard_normal(y.shape).astype(np.float32))
    dx = layer.backward(dy)
    dx_op, dw_op, db_op = backward_op(dy, cache)
    np.testing.assert_array_equal(bk.to_numpy(dx), bk.to_numpy(dx_op))
    layer.backward(dy)  # a second backward adds the same gradients again
    np.testing.assert_allclose(bk.to_numpy(layer.weight.grad), 2 * bk.to_numpy(dw_op), rtol=1e-6)
    np.testing.assert_allclose(bk.to_numpy(layer.bias.grad), 2 * bk.to_numpy(db_op), rtol=1e-6)


@pytest.mark.parametrize("cls", [nn.Conv2d, nn.ConvTranspose2d])
def test_frozen_layer_returns_dx_but_leaves_parameter_grads_alone(bk, rng, cls):
    layer = cls(2, 3, 3, 1, 1, rng=rng).freeze()
    x = bk.asarray(rng.standard_normal((1, 2, 5, 5)).astype(np.float32))
    dx = layer.backward(bk.xp.ones_like(layer(x)))
    assert dx.shape == x.shape and bk.to_numpy(dx).any()
    assert layer.weight.grad is None and layer.bias.grad is None


def test_a_sequential_without_input_grad_accumulates_the_same_parameter_grads(
        bk, rng, check_backward_without_input_grad):
    """D's passes in the D step: every parameter gradient as backward gives, no dx."""
    x = bk.asarray(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    check_backward_without_input_grad(
        lambda: nn.Sequential(nn.Conv2d(3, 4, 4, 2, 1, rng=np.random.default_rng(1)),
                              nn.LeakyReLU(0.2),
                              nn.Conv2d(4, 2, 3, 1, 1, rng=np.random.default_rng(2))), x)


@pytest.mark.parametrize("cls", [nn.Conv2d, nn.ConvTranspose2d])
def test_float64_module_gradients_match_finite_differences(bk, rng, cls):
    """Directional derivative of <dy, layer(x)> along a random direction of (x, w, b)."""
    layer = cls(3, 2, 3, 2, 1, rng=rng).astype(np.float64)
    layer.bias.data = bk.asarray(rng.standard_normal(2))
    x = bk.asarray(rng.standard_normal((2, 3, 5, 6)))
    dy = bk.asarray(rng.standard_normal(layer(x).shape))
    dx = layer.backward(dy)
    params = (x, layer.weight.data, layer.bias.data)
    grads = (dx, layer.weight.grad, layer.bias.grad)
    dirs = [bk.asarray(rng.standard_normal(a.shape)) for a in params]
    analytic = sum(float((g * d).sum()) for g, d in zip(grads, dirs))

    def objective(h):
        saved = layer.weight.data, layer.bias.data
        layer.weight.data, layer.bias.data = saved[0] + h * dirs[1], saved[1] + h * dirs[2]
        value = float((dy * layer(x + h * dirs[0])).sum())
        layer.weight.data, layer.bias.data = saved
        return value

    eps = 1e-5
    numeric = (objective(eps) - objective(-eps)) / (2 * eps)
    assert abs(numeric - analytic) < 1e-7 * max(1, abs(analytic))


@pytest.mark.parametrize("cls", [nn.Conv2d, nn.ConvTranspose2d])
def test_bad_inputs_raise_value_errors_naming_the_layer(bk, cls):
    layer = cls(3, 4, 4, 2, 1)
    name = f"{cls.__name__}(3, 4, kernel_size=4"
    cases = [(bk.xp.zeros((3, 8, 8), np.float32),
              r"4-D input \(N, 3, H, W\), got shape \(3, 8, 8\)"),
             (bk.xp.zeros((1, 2, 8, 8), np.float32), r"3 channels, got shape \(1, 2, 8, 8\)"),
             (bk.xp.zeros((1, 3, 8, 8), np.float64), "expected dtype float32 .*, got float64")]
    for x, message in cases:
        with pytest.raises(ValueError, match=message) as info:
            layer(x)
        assert str(info.value).startswith(name)
    # conv: (2 + 0 - 4)//1 + 1 = -1 rows; transposed: (1 - 1)*1 - 2 + 1 = -1 rows
    kernel, padding = (4, 0) if cls is nn.Conv2d else (1, 1)
    message = f"too small for kernel {kernel}, stride 1, padding {padding}"
    with pytest.raises(ValueError, match=message):
        cls(3, 4, kernel, 1, padding)(bk.xp.zeros((1, 3, 2 - padding, 2 - padding), np.float32))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        cls(3, 4, 4).backward(bk.xp.zeros((1, 4, 4, 4), np.float32))
