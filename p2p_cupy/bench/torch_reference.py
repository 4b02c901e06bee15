"""The PyTorch reference pix2pix: the oracle of the parity tests and the baseline of
`p2p bench --compare torch`. Imported only when torch is wanted (p2p_cupy/bench/torch_ref.py):
torch is never a dependency of the package.

Built with the same structure as the widely used PyTorch implementation (nested
UnetSkipConnectionBlocks, NLayerDiscriminator, PixelDiscriminator), so its state_dict
names are that implementation's (`model.model.1.model.1.weight`, `model.2.weight`,
`net.0.weight`) and its checkpoints can be compared with ours name for name. In-place
LeakyReLU/ReLU are kept: they are why the U-Net's skip carries LeakyReLU(x), not x.

    fake_B = G(A)
    D step:  loss_D = 0.5 * [GAN(D(A, fake_B.detach()), 0) + GAN(D(A, B), 1)]
    G step:  loss_G = GAN(D(A, fake_B), 1) + lambda_L1 * mean|fake_B - B|   (D frozen)
"""
from __future__ import annotations

import functools

import torch
from torch import nn


def get_norm_layer(norm="batch"):
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"unknown norm {norm!r}")


def uses_bias(norm_layer):
    """Convs followed by a norm have a bias only with instance norm (as the reference)."""
    return isinstance(norm_layer, functools.partial) and norm_layer.func is nn.InstanceNorm2d


class UnetSkipConnectionBlock(nn.Module):
    """One level: down -> submodule -> up; every level but the outermost returns
    cat([x, up(...)]) where x has been LeakyReLU'ed in place by `down`."""

    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False,
                 innermost=False, norm_layer=nn.BatchNorm2d, use_dropout=False):
        super().__init__()
        self.outermost = outermost
        bias = uses_bias(norm_layer)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, 2, 1, bias=bias)
        downrelu, uprelu = nn.LeakyReLU(0.2, True), nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1, bias=bias)
            model = [downrelu, downconv, uprelu, upconv, norm_layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=bias)
            model = [downrelu, downconv, norm_layer(inner_nc), submodule,
                     uprelu, upconv, norm_layer(outer_nc)]
            if use_dropout:
                model.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*model)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, input_nc=3, output_nc=3, num_downs=8, ngf=64, norm="batch",
                 use_dropout=True):
        super().__init__()
        norm_layer = get_norm_layer(norm)
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm_layer=norm_layer, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block,
                                            norm_layer=norm_layer, use_dropout=use_dropout)
        for mult in (4, 2, 1):
            block = UnetSkipConnectionBlock(ngf * mult, ngf * mult * 2, submodule=block,
                                            norm_layer=norm_layer)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block,
                                             outermost=True, norm_layer=norm_layer)

    def forward(self, x):
        return self.model(x)


class ResnetBlock(nn.Module):
    """x + conv_block(x): reflect-pad, 3x3 conv, norm, ReLU, [dropout], reflect-pad, 3x3
    conv, norm."""

    def __init__(self, dim, norm_layer, use_dropout, bias):
        super().__init__()
        block = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(dim),
                 nn.ReLU(True)]
        if use_dropout:
            block.append(nn.Dropout(0.5))
        block += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """resnet_<n>blocks: 7x7 stem, two stride-2 convs, n residual blocks, two stride-2
    transposed convs (output_padding 1), 7x7 conv to the output, tanh; one flat Sequential
    `model`, so the state_dict names are model.<i>... (model.<i>.conv_block.<j>... in a
    block)."""

    def __init__(self, input_nc=3, output_nc=3, ngf=64, norm="batch", use_dropout=False,
                 n_blocks=9):
        super().__init__()
        norm_layer = get_norm_layer(norm)
        bias = uses_bias(norm_layer)
        model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), norm_layer(ngf),
                 nn.ReLU(True)]
        for mult in (1, 2):
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=bias),
                      norm_layer(ngf * mult * 2), nn.ReLU(True)]
        model += [ResnetBlock(ngf * 4, norm_layer, use_dropout, bias) for _ in range(n_blocks)]
        for mult in (4, 2):
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1,
                                         bias=bias),
                      norm_layer(ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc=6, ndf=64, n_layers=3, norm="batch"):
        super().__init__()
        norm_layer = get_norm_layer(norm)
        bias = uses_bias(norm_layer)
        seq = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2 if n < n_layers else 1, 1, bias=bias),
                    norm_layer(ndf * mult), nn.LeakyReLU(0.2, True)]
        seq.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


class PixelDiscriminator(nn.Module):
    def __init__(self, input_nc=6, ndf=64, norm="batch"):
        super().__init__()
        norm_layer = get_norm_layer(norm)
        bias = uses_bias(norm_layer)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1, 1, 0), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, 1, 0, bias=bias), norm_layer(ndf * 2),
            nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * 2, 1, 1, 1, 0, bias=bias))

    def forward(self, x):
        return self.net(x)


def init_weights(net, gain=0.02):
    """pix2pix's 'normal' init: conv weights N(0, gain), biases 0; BN gamma N(1, gain)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


def define_D(netD="basic", input_nc=6, ndf=64, n_layers_D=3, norm="batch"):
    if netD == "pixel":
        return PixelDiscriminator(input_nc, ndf, norm)
    return NLayerDiscriminator(input_nc, ndf, 3 if netD == "basic" else n_layers_D, norm)


def build(seed=0, device="cpu", num_downs=8, ngf=64, ndf=64, norm="batch", netD="basic",
          n_layers_D=3, use_dropout=True, lr=2e-4, beta1=0.5, n_blocks=None):
    """(G, D, opt_G, opt_D), seed-initialised, in training mode, on `device`; G is the
    U-Net with num_downs levels, or with n_blocks given, the ResNet generator."""
    torch.manual_seed(seed)
    G = (UnetGenerator(3, 3, num_downs, ngf, norm, use_dropout) if n_blocks is None
         else ResnetGenerator(3, 3, ngf, norm, use_dropout, n_blocks))
    G = init_weights(G).to(device)
    D = init_weights(define_D(netD, 6, ndf, n_layers_D, norm)).to(device)
    fused = str(device).startswith("cuda")  # one multi-tensor kernel, as users would run it
    opt_G = torch.optim.Adam(G.parameters(), lr=lr, betas=(beta1, 0.999), fused=fused)
    opt_D = torch.optim.Adam(D.parameters(), lr=lr, betas=(beta1, 0.999), fused=fused)
    return G.train(), D.train(), opt_G, opt_D


def gan_loss(pred, is_real, gan_mode="vanilla"):
    target = torch.full_like(pred, 1.0 if is_real else 0.0)
    if gan_mode == "lsgan":
        return nn.functional.mse_loss(pred, target)
    return nn.functional.binary_cross_entropy_with_logits(pred, target)


def train_step(G, D, opt_G, opt_D, real_A, real_B, gan_mode="vanilla", lambda_l1=100.0):
    """One pix2pix iteration, in the reference's order; returns (losses, fake_B)."""
    fake_B = G(real_A)
    for p in D.parameters():
        p.requires_grad_(True)
    opt_D.zero_grad()
    loss_D_fake = gan_loss(D(torch.cat((real_A, fake_B), 1).detach()), False, gan_mode)
    loss_D_real = gan_loss(D(torch.cat((real_A, real_B), 1)), True, gan_mode)
    ((loss_D_fake + loss_D_real) * 0.5).backward()
    opt_D.step()

    for p in D.parameters():
        p.requires_grad_(False)
    opt_G.zero_grad()
    loss_G_GAN = gan_loss(D(torch.cat((real_A, fake_B), 1)), True, gan_mode)
    loss_G_L1 = nn.functional.l1_loss(fake_B, real_B) * lambda_l1
    (loss_G_GAN + loss_G_L1).backward()
    opt_G.step()
    return {"G_GAN": loss_G_GAN.detach(), "G_L1": loss_G_L1.detach(),
            "D_real": loss_D_real.detach(), "D_fake": loss_D_fake.detach()}, fake_B.detach()
