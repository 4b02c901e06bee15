"""Activation modules: forward/backward through the ops, input checks."""
import numpy as np
import pytest

from p2p_cupy import nn


@pytest.mark.parametrize("layer, slope", [(nn.LeakyReLU(0.2), 0.2), (nn.ReLU(), 0.0)])
def test_rectifier_modules_pass_or_scale_gradients(bk, layer, slope):
    x = bk.asarray(np.array([[[[-2.0, 3.0]]]], np.float32))
    y = bk.to_numpy(layer.forward(x))
    assert np.allclose(y, [[[[-2.0 * slope, 3.0]]]])
    dx = bk.to_numpy(layer.backward(bk.asarray(np.full((1, 1, 1, 2), 10.0, np.float32))))
    assert np.allclose(dx, [[[[10.0 * slope, 10.0]]]])


def test_tanh_and_sigmoid_modules_backward(bk):
    x = bk.asarray(np.array([[[[0.5, -1.0]]]]))
    for layer, derivative in [(nn.Tanh(), lambda v: 1 - np.tanh(v) ** 2),
                              (nn.Sigmoid(), lambda v: np.exp(-v) / (1 + np.exp(-v)) ** 2)]:
        layer.forward(x)
        dx = bk.to_numpy(layer.backward(bk.asarray(np.ones((1, 1, 1, 2)))))
        assert np.allclose(dx, derivative(np.array([0.5, -1.0])), rtol=1e-12)


def test_activation_layers_reject_bad_input(bk):
    with pytest.raises(ValueError, match="Tanh.*float32 or float64.*int64"):
        nn.Tanh().forward(bk.asarray(np.zeros((1, 1, 2, 2), np.int64)))
    with pytest.raises(ValueError, match="LeakyReLU: expected 0 <= slope < 1, got 1.5"):
        nn.LeakyReLU(1.5)
