"""Gradient checks of whole networks: the `unet`, `resnet` and `patchgan` cases of
`p2p gradcheck`.

The layer cases check each backward alone; these check that the networks wire them
correctly (the U-Net's skips add their gradient to the encoder's, the residual blocks add
theirs to the block's input, D passes its input gradient on, every parameter receives its
share), end to end, in float64.

Two things differ from a single layer:

- Thousands of ReLU / leaky ReLU kinks. A finite-difference step of h = 1e-5 moves some
  pre-activation across zero, and the central difference then averages two slopes. So the
  network is evaluated at a / SCALE where `a` are the arrays the checker perturbs: its
  step h becomes h / SCALE on the real inputs and weights, 1e-8 in float64 (rounding of f
  stays ~1e-7 relative at that step, far below the tolerance) and ~3e-7 in float32 (where
  rounding and kinks meet: float32 remains the coarse smoke test).
- Tens of thousands of elements. Checking each one costs two forward passes, so the input
  and all parameters are presented as two flat arrays, too large for the element-by-element
  check: they are checked together along random directions (Chainer's check_backward),
  two forward passes per direction whatever the size.

Buffers (BN running statistics, the dropout step counter) are restored before every
forward, so dropout keeps one fixed mask.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend
from p2p_cupy.gradcheck.check import Problem
from p2p_cupy.models import define_D, define_G

SCALE = {np.dtype(np.float64): 1e3, np.dtype(np.float32): 3e4}


def network_problem(module, x) -> Problem:
    """d<gy, module(x)> / d(x, parameters), with the parameters as one flat array."""
    xp = backend.of(x).xp
    scale = SCALE[np.dtype(x.dtype)]
    params = module.parameters()
    saved = [(mod, short, b.copy()) for _, mod, short, b in module.named_buffers()]
    sizes = np.cumsum([p.data.size for p in params])[:-1]
    arrays = {"x": x * scale,
              "parameters": xp.concatenate([p.data.ravel() for p in params]) * scale}

    def forward():
        for mod, short, b in saved:
            mod.set_buffer(short, b.copy())
        for p, flat in zip(params, xp.split(arrays["parameters"] / scale, sizes)):
            p.data[...] = flat.reshape(p.data.shape)
        return module.forward(arrays["x"] / scale)

    def backward(gy):
        module.zero_grad()
        forward()
        dx = module.backward(gy)
        # chain rule through a = scale * real: df/da = (df/dreal) / scale
        return {"x": dx / scale,
                "parameters": xp.concatenate([p.grad.ravel() for p in params]) / scale}

    return Problem(arrays, forward, backward)


def unet(rng, dtype):
    """A 6-level U-Net (the least depth with a dropout level) on 64x64: skips, batch norm,
    dropout, tanh."""
    G = define_G("unet_64", ngf=2, seed=int(rng.integers(2 ** 31))).astype(dtype)
    x = backend.current().asarray(rng.standard_normal((2, 3, 64, 64)), dtype=dtype)
    return network_problem(G, x)


def resnet(rng, dtype):
    """A ResNet generator with 2 residual blocks on 24x24: reflection pads, 7x7 and stride-2
    convs, transposed convs with output_padding, batch norm, dropout in the blocks, tanh.
    24x24: the input is larger than the element-by-element limit, like the parameters."""
    G = define_G("resnet_9blocks", ngf=2, n_blocks=2,
                 seed=int(rng.integers(2 ** 31))).astype(dtype)
    x = backend.current().asarray(rng.standard_normal((2, 3, 24, 24)), dtype=dtype)
    return network_problem(G, x)


def patchgan(rng, dtype):
    """The 3-layer (70x70) PatchGAN on a 6-channel 32x32 pair: batch norm, leaky ReLUs."""
    D = define_D("basic", ndf=2, seed=int(rng.integers(2 ** 31))).astype(dtype)
    x = backend.current().asarray(rng.standard_normal((2, 6, 32, 32)), dtype=dtype)
    return network_problem(D, x)
