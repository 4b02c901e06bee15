"""The pix2pix discriminators: the n-layer PatchGAN and the 1x1 "pixel" GAN.

PatchGAN(n_layers) on concat(A, B) (6 channels), all kernels 4x4, padding 1:

    Conv s2 (bias) -> LReLU                                   64 channels
    n-1 x [Conv s2 -> norm -> LReLU]                          64 * min(2^k, 8)
    Conv s1 -> norm -> LReLU                                  64 * min(2^n, 8)
    Conv s1 -> 1 channel (bias)                               one logit per patch

Each logit sees a patch of the input: the receptive field is 16, 34, 70, 142, 286 pixels
for n = 1..5 (n = 3, "basic", is the 70x70 PatchGAN; 256x256 in -> 30x30 logits).
As in the reference implementation, the convs followed by a norm have a bias only with
instance norm.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import nn
from p2p_cupy.models.unet import make_norm


class PatchGAN(nn.Sequential):
    """The n_layers PatchGAN discriminator; `receptive_field` says the patch size."""

    def __init__(self, input_nc=6, ndf=64, n_layers=3, norm="batch", seed=0, rng=None):
        if not 1 <= n_layers <= 5:
            raise ValueError(f"PatchGAN: n_layers must be 1..5, got {n_layers}")
        rng = rng if rng is not None else np.random.default_rng(seed)
        bias = norm == "instance"
        layers = [nn.Conv2d(input_nc, ndf, 4, 2, 1, bias=True, rng=rng), nn.LeakyReLU(0.2)]
        mult = 1
        for k in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** k, 8)
            stride = 2 if k < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=bias, rng=rng),
                       make_norm(norm, ndf * mult, rng), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1, bias=True, rng=rng))
        super().__init__(*[layer for layer in layers if layer is not None])
        self.input_nc, self.n_layers = input_nc, n_layers

    def output_size(self, size: int) -> int:
        """Logits per side for `size` input pixels per side (< 1: the input is too small)."""
        for layer in self:
            if isinstance(layer, nn.Conv2d):
                size = layer.output_size(size)
        return size

    def forward(self, x):
        if x.ndim == 4 and min(self.output_size(s) for s in x.shape[2:]) < 1:
            smallest = next(s for s in range(1, 4096) if self.output_size(s) >= 1)
            raise ValueError(f"PatchGAN(n_layers={self.n_layers}): an input of "
                             f"{x.shape[2]}x{x.shape[3]} pixels is too small, it needs at "
                             f"least {smallest}x{smallest}")
        return super().forward(x)

    @property
    def receptive_field(self) -> int:
        """Input pixels seen by one output logit: r_in = (r_out - 1) * stride + kernel."""
        r = 1
        for layer in reversed(list(self)):
            if isinstance(layer, nn.Conv2d):
                r = (r - 1) * layer.stride + layer.kernel_size
        return r


class PixelDiscriminator(nn.Sequential):
    """1x1 PatchGAN ("pixel"): classifies every pixel of concat(A, B) on its own."""

    def __init__(self, input_nc=6, ndf=64, norm="batch", seed=0, rng=None):
        rng = rng if rng is not None else np.random.default_rng(seed)
        bias = norm == "instance"
        layers = [nn.Conv2d(input_nc, ndf, 1, 1, 0, bias=True, rng=rng), nn.LeakyReLU(0.2),
                  nn.Conv2d(ndf, ndf * 2, 1, 1, 0, bias=bias, rng=rng),
                  make_norm(norm, ndf * 2, rng), nn.LeakyReLU(0.2),
                  nn.Conv2d(ndf * 2, 1, 1, 1, 0, bias=bias, rng=rng)]
        super().__init__(*[layer for layer in layers if layer is not None])
        self.input_nc, self.receptive_field = input_nc, 1
