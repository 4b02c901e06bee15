"""The pix2pix generator: a U-Net (and its skip-free encoder-decoder ablation).

Levels k = 1..N (N = num_downs; unet_256: N = 8, unet_128: N = 7), channels
ch_k = ngf * min(2^(k-1), 8). Every conv is 4x4, stride 2, padding 1.

    x_1 = conv_1(input)                          down1: no activation, no norm
    s_k = LeakyReLU_0.2(x_{k-1})                 k = 2..N   (also the skip of level k)
    x_k = norm_k(conv_k(s_k))                    no norm at the innermost level N
    u_N = norm(convT_N(ReLU(x_N)))
    u_k = norm(convT_k(ReLU(cat(s_{k+1}, u_{k+1}))))   k = N-1..2, Dropout(0.5) after the
                                                  norm on levels 5..N-1 (up7, up6, up5)
    out = tanh(convT_1(ReLU(cat(s_2, u_2))))     with bias

Why the skip is s_k = LeakyReLU(x_{k-1}) and not x_{k-1}: the PyTorch implementation that
everyone uses builds each level as `cat([x, model(x)])` whose model starts with an
*in-place* LeakyReLU, so by the time `cat` reads x it already holds LeakyReLU(x). Its
pretrained checkpoints were trained that way, and we match it exactly.

Biases follow that implementation too: a conv has a bias only when the norm is instance
norm (convs followed by batch norm don't need one), except the last transposed conv,
which always has one. With the defaults this gives exactly 54,413,955 parameters.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend, nn
from p2p_cupy.ops.concat import concat_backward


def make_norm(norm: str, channels: int, rng):
    """The norm layer of the pix2pix options: batch | instance | none (None)."""
    if norm == "batch":
        return nn.BatchNorm2d(channels, rng=rng)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    if norm == "none":
        return None
    raise ValueError(f"unknown norm {norm!r}; choose batch, instance or none")


def _seq(*layers):
    return nn.Sequential(*[layer for layer in layers if layer is not None])


class UNetGenerator(nn.Module):
    """U-Net generator; `skips=False` gives the paper's encoder-decoder ablation,
    `output_tanh=False` raw outputs (per-class logits of a segmenter, p2p_cupy/quality)."""

    def __init__(self, input_nc=3, output_nc=3, num_downs=8, ngf=64, norm="batch",
                 use_dropout=True, skips=True, seed=0, rng=None, output_tanh=True):
        super().__init__()
        if num_downs < 2:
            raise ValueError(f"UNetGenerator: num_downs must be >= 2, got {num_downs}")
        rng = rng if rng is not None else np.random.default_rng(seed)
        self.input_nc, self.output_nc, self.num_downs = input_nc, output_nc, num_downs
        self.skips = skips
        self.size_multiple = 2 ** num_downs   # height and width it accepts (see check_input)
        bias = norm == "instance"
        ch = [None] + [ngf * min(2 ** (k - 1), 8) for k in range(1, num_downs + 1)]
        n = num_downs

        # Encoder: enc_k = conv_k (+ norm_k); act_k = the LeakyReLU in front of it.
        self.enc1 = _seq(nn.Conv2d(input_nc, ch[1], 4, 2, 1, bias=bias, rng=rng))
        for k in range(2, n + 1):
            setattr(self, f"act{k}", nn.LeakyReLU(0.2))
            norm_k = make_norm(norm, ch[k], rng) if k < n else None
            setattr(self, f"enc{k}", _seq(nn.Conv2d(ch[k - 1], ch[k], 4, 2, 1, bias=bias,
                                                    rng=rng), norm_k))
        # Decoder: dec_k maps level k back to the resolution and channels of level k-1.
        for k in range(n, 0, -1):
            in_ch = ch[k] if (k == n or not skips) else 2 * ch[k]
            if k == 1:
                setattr(self, "dec1", _seq(nn.ReLU(), nn.ConvTranspose2d(
                    in_ch, output_nc, 4, 2, 1, bias=True, rng=rng),
                    nn.Tanh() if output_tanh else None))
                continue
            # Each dropout layer gets its own Philox key, drawn like the weights.
            dropout = nn.Dropout(0.5, seed=int(rng.integers(2 ** 62))) if (
                use_dropout and 5 <= k <= n - 1) else None
            setattr(self, f"dec{k}", _seq(
                nn.ReLU(), nn.ConvTranspose2d(in_ch, ch[k - 1], 4, 2, 1, bias=bias, rng=rng),
                make_norm(norm, ch[k - 1], rng), dropout))

    def level(self, kind: str, k: int):
        return getattr(self, f"{kind}{k}")

    def check_input(self, x):
        if x.ndim != 4 or x.shape[1] != self.input_nc:
            raise ValueError(f"UNetGenerator: expected input (N, {self.input_nc}, H, W), "
                             f"got {tuple(x.shape)}")
        size = 2 ** self.num_downs
        if x.shape[2] % size or x.shape[3] % size:
            raise ValueError(f"UNetGenerator with num_downs={self.num_downs}: height and width "
                             f"must be multiples of {size}, got {tuple(x.shape[2:])}")

    def forward(self, x):
        return self.forward_into(x, None)

    def forward_into(self, x, out):
        """forward, the output written into `out` when given. With skips, the two halves
        of each concat cat(s_{k+1}, u_{k+1}) are written in place by the layers that make
        them (act_{k+1}'s LeakyReLU and dec_{k+1}'s last layer): no concat copy at all when
        the halves are contiguous (batch 1), one copy per half otherwise, as a concat."""
        self.check_input(x)
        n = self.num_downs
        xp = backend.current().xp
        h = self.enc1.forward(x)
        skip, cats = {}, {}
        for k in range(2, n + 1):
            act = self.level("act", k)
            if self.skips:       # s_k is the first half of level k-1's concat
                c = h.shape[1]
                cats[k - 1] = xp.empty((h.shape[0], 2 * c) + tuple(h.shape[2:]), h.dtype)
                skip[k] = act.forward_into(h, cats[k - 1][:, :c])
            else:
                skip[k] = act.forward(h)
            h = self.level("enc", k).forward(skip[k])
        self._concat_caches = {}
        u = h
        for k in range(n, 1, -1):
            dec = self.level("dec", k)
            if self.skips:       # u_k is the second half of level k-1's concat
                c = cats[k - 1].shape[1] // 2
                dec.forward_into(u, cats[k - 1][:, c:])
                u, self._concat_caches[k - 1] = cats[k - 1], (c, c)
            else:
                u = dec.forward(u)
        return self.dec1.forward(u) if out is None else self.dec1.forward_into(u, out)

    def backward(self, dy):
        """Decoder first; a skip's gradient is added to the encoder's at s_k."""
        return self.enc1.backward(self._backward_to_enc1(dy))

    def backward_without_input_grad(self, dy):
        """backward for a data input (pix2pix's A): the outermost conv skips dx."""
        return self.enc1.backward_without_input_grad(self._backward_to_enc1(dy))

    def _backward_to_enc1(self, dy):
        """Everything but the outermost conv: returns the gradient at enc1's output."""
        n = self.num_downs
        dskip = {}
        du = dy
        for k in range(1, n):
            dcat = self.level("dec", k).backward(du)
            if self.skips:
                dskip[k + 1], du = concat_backward(dcat, self._concat_caches[k])
            else:
                du = dcat
        dh = self.level("dec", n).backward(du)
        for k in range(n, 1, -1):
            ds = self.level("enc", k).backward(dh)
            if k in dskip:
                backend.current().add_into(ds, dskip[k])
            dh = self.level("act", k).backward(ds)
        return dh
