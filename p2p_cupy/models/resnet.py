"""The ResNet generator of pix2pix/CycleGAN (resnet_9blocks, resnet_6blocks), built layer
for layer as the reference PyTorch implementation builds it, in one Sequential `model`
with the reference's indices (so its checkpoints load name for name):

    ReflectionPad2d(3), Conv 7x7 (ngf), norm, ReLU                    stem, full resolution
    2 x [Conv 3x3 stride 2 padding 1 (channels x2), norm, ReLU]        down to 1/4
    n_blocks x ResnetBlock(4 ngf)                                      at 1/4 resolution
    2 x [ConvTranspose 3x3 stride 2 padding 1 output_padding 1 (channels /2), norm, ReLU]
    ReflectionPad2d(3), Conv 7x7 (output_nc, with bias), Tanh          back at full size

    ResnetBlock(x) = x + conv_block(x),  conv_block = ReflectionPad2d(1), Conv 3x3, norm,
                     ReLU, [Dropout(0.5) with use_dropout], ReflectionPad2d(1), Conv 3x3, norm

Convs carry a bias only when the norm is instance norm (batch norm's shift makes it
redundant), except the last conv, which always has one; norm 'none' keeps its slot as an
Identity. At ngf 64, 3 -> 3 channels: 11,383,427 parameters for resnet_9blocks with batch
norm, 11,378,179 with instance norm; 7,841,411 and 7,837,699 for resnet_6blocks.

Height and width must be multiples of 4 (two stride-2 halvings, undone exactly by the two
transposed convs) and at least 8 (the blocks' 1-pixel reflection needs 2 pixels).
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend, nn
from p2p_cupy.models.unet import make_norm

N_DOWNSAMPLING = 2
SIZE_MULTIPLE = 2 ** N_DOWNSAMPLING


def _norm_or_identity(norm, channels, rng):
    return make_norm(norm, channels, rng) or nn.Identity()


class ResnetBlock(nn.Module):
    """y = x + conv_block(x); the skip passes dy straight through: dx = dy + conv_block'(dy)."""

    def __init__(self, dim, norm, use_dropout, bias, rng):
        super().__init__()
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias, rng=rng),
                  _norm_or_identity(norm, dim, rng), nn.ReLU()]
        if use_dropout:   # each dropout layer gets its own Philox key, drawn like the weights
            layers.append(nn.Dropout(0.5, seed=int(rng.integers(2 ** 62))))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias, rng=rng),
                   _norm_or_identity(norm, dim, rng)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.conv_block.forward(x)     # a new array (no layer keeps it): add x in place
        backend.current().add_into(y, x)
        return y

    def backward(self, dy):
        dx = self.conv_block.backward(dy)
        backend.current().add_into(dx, dy)
        return dx


class ResnetGenerator(nn.Module):
    def __init__(self, input_nc=3, output_nc=3, ngf=64, norm="batch", use_dropout=True,
                 n_blocks=9, seed=0, rng=None):
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f"ResnetGenerator: n_blocks must be >= 0, got {n_blocks}")
        rng = rng if rng is not None else np.random.default_rng(seed)
        self.input_nc, self.output_nc, self.n_blocks = input_nc, output_nc, n_blocks
        self.size_multiple = SIZE_MULTIPLE
        bias = norm == "instance"
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias, rng=rng),
                  _norm_or_identity(norm, ngf, rng), nn.ReLU()]
        for i in range(N_DOWNSAMPLING):
            channels = ngf * 2 ** i
            layers += [nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1, bias=bias,
                                 rng=rng),
                       _norm_or_identity(norm, 2 * channels, rng), nn.ReLU()]
        dim = ngf * 2 ** N_DOWNSAMPLING
        layers += [ResnetBlock(dim, norm, use_dropout, bias, rng) for _ in range(n_blocks)]
        for i in range(N_DOWNSAMPLING):
            channels = ngf * 2 ** (N_DOWNSAMPLING - i)
            layers += [nn.ConvTranspose2d(channels, channels // 2, 3, stride=2, padding=1,
                                          output_padding=1, bias=bias, rng=rng),
                       _norm_or_identity(norm, channels // 2, rng), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, rng=rng), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def check_input(self, x):
        if x.ndim != 4 or x.shape[1] != self.input_nc:
            raise ValueError(f"ResnetGenerator: expected input (N, {self.input_nc}, H, W), "
                             f"got {tuple(x.shape)}")
        if x.shape[2] % SIZE_MULTIPLE or x.shape[3] % SIZE_MULTIPLE or min(x.shape[2:]) < 8:
            raise ValueError(f"ResnetGenerator: height and width must be multiples of "
                             f"{SIZE_MULTIPLE} and at least 8, got {tuple(x.shape[2:])}")

    def forward(self, x):
        self.check_input(x)
        return self.model.forward(x)

    def backward(self, dy):
        return self.model.backward(dy)

    def backward_without_input_grad(self, dy):
        """backward for a data input (pix2pix's A): the stem's pad and the input gradient
        of its conv are skipped (see Sequential.backward_without_input_grad)."""
        return self.model.backward_without_input_grad(dy)
