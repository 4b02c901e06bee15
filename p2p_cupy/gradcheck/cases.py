"""The named gradient-check cases of `p2p gradcheck` (the checks: check.py).

A case is a function (rng, dtype) -> Problem building a small instance on the current
backend: odd sizes, batch > 1, parameters included. Add one: write the function, add a
line to CASES.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend, nn
from p2p_cupy.gradcheck.check import Problem, check_problem, function_problem, module_problem
from p2p_cupy.gradcheck.networks import patchgan, resnet, unet

KINK_MARGIN = 0.1   # |input| kept at least this far from a kink (well above h of any dtype)


def _array(rng, shape, dtype, away_from_zero=False):
    """Standard-normal values on the current backend; optionally |x| >= KINK_MARGIN."""
    a = rng.standard_normal(shape)
    if away_from_zero:
        a += np.copysign(KINK_MARGIN, a)
    return backend.current().asarray(a, dtype=dtype)


def _image(rng, dtype, channels=3, away_from_zero=False):
    return _array(rng, (2, channels, 7, 5), dtype, away_from_zero)


def _perturbed_parameters(layer, rng):
    # the init (zero biases, gamma near 1) would hide mistakes that matter for other values
    for p in layer.parameters():
        p.data[...] = p.data + backend.current().asarray(
            0.1 * rng.standard_normal(p.data.shape), dtype=p.data.dtype)
    return layer


def conv2d(rng, dtype):
    layer = nn.Conv2d(3, 4, 3, stride=2, padding=1, rng=rng)
    return module_problem(_perturbed_parameters(layer.astype(dtype), rng), _image(rng, dtype))


def conv_transpose2d(rng, dtype):
    layer = nn.ConvTranspose2d(3, 4, 4, stride=2, padding=1, rng=rng)
    return module_problem(_perturbed_parameters(layer.astype(dtype), rng), _image(rng, dtype))


def conv_transpose2d_output_padding(rng, dtype):
    """The ResNet generator's up-sampling: k 3, s 2, p 1, output_padding 1 (7x5 -> 14x10)."""
    layer = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1, rng=rng)
    return module_problem(_perturbed_parameters(layer.astype(dtype), rng), _image(rng, dtype))


def reflection_pad2d(rng, dtype):
    """Pad 3 on a 7x5 image: the trailing columns' mirror reaches back to column 1."""
    return module_problem(nn.ReflectionPad2d(3), _image(rng, dtype))


def batch_norm2d_train(rng, dtype):
    layer = _perturbed_parameters(nn.BatchNorm2d(3, rng=rng).astype(dtype), rng)
    return module_problem(layer, _image(rng, dtype))


def batch_norm2d_eval(rng, dtype):
    layer = _perturbed_parameters(nn.BatchNorm2d(3, rng=rng).astype(dtype), rng)
    bk = backend.current()
    layer.set_buffer("running_mean", bk.asarray(rng.standard_normal(3), dtype=dtype))
    layer.set_buffer("running_var", bk.asarray(rng.uniform(0.5, 2.0, 3), dtype=dtype))
    return module_problem(layer.eval(), _image(rng, dtype))


def instance_norm2d(rng, dtype):
    return module_problem(nn.InstanceNorm2d(3).astype(dtype), _image(rng, dtype))


def instance_norm2d_affine(rng, dtype):
    layer = _perturbed_parameters(nn.InstanceNorm2d(3, affine=True, rng=rng).astype(dtype), rng)
    return module_problem(layer, _image(rng, dtype))


def leaky_relu(rng, dtype):
    return module_problem(nn.LeakyReLU(0.2), _image(rng, dtype, away_from_zero=True))


def relu(rng, dtype):
    return module_problem(nn.ReLU(), _image(rng, dtype, away_from_zero=True))


def tanh(rng, dtype):
    return module_problem(nn.Tanh(), _image(rng, dtype))


def sigmoid(rng, dtype):
    return module_problem(nn.Sigmoid(), _image(rng, dtype))


def dropout(rng, dtype):
    return module_problem(nn.Dropout(0.5, seed=3), _image(rng, dtype))


def concat(rng, dtype):
    from p2p_cupy.ops.concat import concat_backward, concat_forward
    inputs = {"a": _image(rng, dtype, channels=3), "b": _image(rng, dtype, channels=2)}
    return function_problem(inputs, lambda a, b: concat_forward([a, b]), concat_backward)


def _loss_problem(forward, backward, prediction, target):
    """The gradient of a mean loss with respect to its prediction; the target is fixed."""
    return function_problem({"prediction": prediction},
                            lambda p: forward(p, target),
                            lambda dloss, cache: backward(cache, float(dloss)))


def bce_with_logits(rng, dtype):
    from p2p_cupy.ops.losses import bce_with_logits_backward, bce_with_logits_forward
    target = backend.current().asarray(rng.uniform(0, 1, (2, 1, 7, 5)), dtype=dtype)
    return _loss_problem(bce_with_logits_forward, bce_with_logits_backward,
                         _array(rng, (2, 1, 7, 5), dtype), target)


def bce_with_logits_label(rng, dtype):
    from p2p_cupy.ops.losses import bce_with_logits_backward, bce_with_logits_forward
    return _loss_problem(bce_with_logits_forward, bce_with_logits_backward,
                         _array(rng, (2, 1, 7, 5), dtype), 1.0)


def mse(rng, dtype):
    from p2p_cupy.ops.losses import mse_backward, mse_forward
    return _loss_problem(mse_forward, mse_backward, _image(rng, dtype), _image(rng, dtype))


def l1(rng, dtype):
    from p2p_cupy.ops.losses import l1_backward, l1_forward
    # pred = target + d with |d| >= KINK_MARGIN: away from the kink of |pred - target|
    target = _image(rng, dtype)
    pred = target + _image(rng, dtype, away_from_zero=True)
    return _loss_problem(l1_forward, l1_backward, pred, target)


def gradient_penalty(rng, dtype):
    """WGAN-GP's penalty lambda * mean(||dD/dx|| - 1)^2 with respect to D's parameters: the
    hand-derived tangent-pass gradient (p2p_cupy/train/gradient_penalty.py), through conv,
    batch norm and leaky ReLU."""
    from p2p_cupy.models import define_D
    from p2p_cupy.train.gradient_penalty import gradient_penalty as penalty
    D = _perturbed_parameters(define_D("n_layers", input_nc=2, ndf=2, n_layers_D=1,
                                       seed=int(rng.integers(2 ** 31))).astype(dtype), rng)
    real, fake = (_array(rng, (2, 2, 10, 10), dtype) for _ in range(2))
    alpha = rng.uniform(0, 1, 2)

    def forward():
        return penalty(D, real, fake, alpha).reshape(1)

    def backward(gy):
        D.zero_grad()
        penalty(D, real, fake, alpha)
        return {name: p.grad * gy[0] for name, p in D.named_parameters()}
    return Problem({name: p.data for name, p in D.named_parameters()}, forward, backward)


def softmax_cross_entropy(rng, dtype):
    from p2p_cupy.ops.losses import (softmax_cross_entropy_backward,
                                     softmax_cross_entropy_forward)
    classes = backend.current().asarray(rng.integers(0, 4, (2, 7, 5)), dtype=np.int32)
    return _loss_problem(softmax_cross_entropy_forward, softmax_cross_entropy_backward,
                         _array(rng, (2, 4, 7, 5), dtype), classes)


CASES = {
    "conv2d": conv2d,
    "conv_transpose2d": conv_transpose2d,
    "conv_transpose2d_output_padding": conv_transpose2d_output_padding,
    "reflection_pad2d": reflection_pad2d,
    "batch_norm2d_train": batch_norm2d_train,
    "batch_norm2d_eval": batch_norm2d_eval,
    "instance_norm2d": instance_norm2d,
    "instance_norm2d_affine": instance_norm2d_affine,
    "leaky_relu": leaky_relu,
    "relu": relu,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "dropout": dropout,
    "concat": concat,
    "bce_with_logits": bce_with_logits,
    "bce_with_logits_label": bce_with_logits_label,
    "mse": mse,
    "l1": l1,
    "softmax_cross_entropy": softmax_cross_entropy,
    "unet": unet,
    "resnet": resnet,
    "patchgan": patchgan,
    "gradient_penalty": gradient_penalty,
}


def run_case(name: str, rng, dtype=np.float64) -> list:
    """The CheckResults of one registered case (ValueError for an unknown name)."""
    if name not in CASES:
        raise ValueError(f"gradcheck: unknown case {name!r}; choose from {', '.join(CASES)}")
    return check_problem(name, CASES[name](rng, np.dtype(dtype)), rng)
