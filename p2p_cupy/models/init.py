"""Weight initialisation by name (the reference's --init_type and --init_gain).

    normal       W ~ N(0, gain)                                  (pix2pix's default, 0.02)
    xavier       W ~ N(0, gain * sqrt(2 / (fan_in + fan_out)))
    kaiming      W ~ N(0, sqrt(2 / fan_in))                     (He, for ReLU; gain unused)
    orthogonal   W reshaped to (rows, fan) has orthonormal rows or columns, times gain
and for every batch norm gamma ~ N(1, gain), beta = 0; biases are 0.

fan_in and fan_out are read off the weight tensor the way PyTorch's initialisers do:
fan_in = shape[1] * k * k, fan_out = shape[0] * k * k. For a transposed conv, whose weight
is (in, out, k, k), that makes "fan_in" the output channels: the reference inherits this,
and so do we, so the same option gives the same distributions.

The layers themselves already draw N(0, 0.02) (and gamma ~ N(1, 0.02)) when built, so
`normal` with gain 0.02 is what every network has without calling init_weights.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend, nn

INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")
DEFAULT_INIT = ("normal", 0.02)      # what the layers draw when they are built


def _fans(shape) -> tuple:
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def draw_weight(shape, init_type: str, gain: float, rng) -> np.ndarray:
    """A float32 host array of `shape` drawn by init_type."""
    fan_in, fan_out = _fans(shape)
    if init_type == "normal":
        w = rng.normal(0.0, gain, shape)
    elif init_type == "xavier":
        w = rng.normal(0.0, gain * np.sqrt(2.0 / (fan_in + fan_out)), shape)
    elif init_type == "kaiming":
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    elif init_type == "orthogonal":
        rows, cols = shape[0], fan_in
        a = rng.normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))           # the sign fix makes q uniform over the group
        w = gain * (q if rows >= cols else q.T).reshape(shape)
    else:
        raise ValueError(f"unknown init_type {init_type!r}; choose {', '.join(INIT_TYPES)}")
    return w.astype(np.float32)


def init_weights(net, init_type: str = "normal", gain: float = 0.02, seed: int = 0):
    """Redraw every conv weight and batch-norm gamma of net in place (biases and betas 0);
    deterministic for the seed, layer by layer in definition order. Returns net."""
    if init_type not in INIT_TYPES:
        raise ValueError(f"unknown init_type {init_type!r}; choose {', '.join(INIT_TYPES)}")
    rng = np.random.default_rng(seed)
    for _, layer in net.named_modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            layer.weight.data[...] = backend.of(layer.weight.data).asarray(   # where it lives
                draw_weight(layer.weight.data.shape, init_type, gain, rng))
        elif isinstance(layer, nn.BatchNorm2d):
            layer.weight.data[...] = backend.of(layer.weight.data).asarray(
                rng.normal(1.0, gain, layer.num_features).astype(np.float32))
        else:
            continue
        if layer.bias is not None:
            layer.bias.data[...] = 0
    return net
