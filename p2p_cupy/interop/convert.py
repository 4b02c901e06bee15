"""A PyTorch pix2pix checkpoint (.pth, generator or discriminator) -> our checkpoint .npz.

The .npz is an ordinary p2p-cupy checkpoint (p2p_cupy/train/checkpoint.py): the weights
under "G" (or "D") and the training options that rebuild the network under "options",
so `p2p translate --checkpoint MODEL.npz` runs a converted generator like one of ours.
"""
from __future__ import annotations

from pathlib import Path

from p2p_cupy.interop import pix2pix_names as names
from p2p_cupy.interop.torch_checkpoint import load_state_dict
from p2p_cupy.models import GENERATORS
from p2p_cupy.output_paths import check_output
from p2p_cupy.train import checkpoint
from p2p_cupy.train.options import TrainOptions


CHANNELS = {"input_nc": (1, 3, 4), "output_nc": (1, 3)}


def generator_options(arch: dict, use_dropout: bool) -> TrainOptions:
    """The options of a run that trains this generator."""
    for name, allowed in CHANNELS.items():
        if arch[name] not in allowed:
            raise ValueError(f"a generator with {name} {arch[name]} is not supported "
                             f"({name} {' or '.join(map(str, allowed))})")
    channels = {"input_nc": arch["input_nc"], "output_nc": arch["output_nc"]}
    if "n_blocks" in arch:                       # a ResNet: its dropout is in the names
        netG, n_blocks = names.resnet_netG(arch["n_blocks"])
        return TrainOptions(netG=netG, n_blocks=n_blocks, ngf=arch["ngf"], norm=arch["norm"],
                            no_dropout=not arch["use_dropout"], **channels)
    netG = f"unet_{2 ** arch['num_downs']}"
    if netG not in GENERATORS:
        raise ValueError(f"a U-Net with {arch['num_downs']} levels has no p2p netG "
                         f"(supported: {', '.join(GENERATORS)})")
    return TrainOptions(netG=netG, ngf=arch["ngf"], norm=arch["norm"],
                        no_dropout=not use_dropout, **channels)


def check_channels(arch: dict, expected: dict, src):
    """--input-nc / --output-nc given to convert must be what the weights say."""
    for name, value in expected.items():
        if value is not None and arch[name] != value:
            raise ValueError(f"{src}: --{name.replace('_', '-')} {value}, but the weights "
                             f"have {name} {arch[name]}")


def detect_any_generator(state, source) -> dict:
    """The architecture of a reference U-Net or ResNet generator state_dict."""
    if names.is_resnet_state(state):
        return names.detect_resnet_generator(state, source)
    return names.detect_generator(state, source)


def torch_generator(src, use_dropout=True, state=None):
    """(our generator, its TrainOptions) straight from a PyTorch generator .pth."""
    state = load_state_dict(src) if state is None else state
    opts = generator_options(detect_any_generator(state, src), use_dropout)
    return names.build_generator(state, use_dropout, source=src), opts


def convert_checkpoint(src, out, use_dropout=True, input_nc=None, output_nc=None) -> dict:
    """Convert src (.pth) into out (.npz); returns what was detected. A generator's
    channels are read from its weights (input_nc / output_nc, if given, must agree); a
    discriminator judges input + output channels, which its weights hold only as a sum:
    input_nc or output_nc splits it (default: an even split, 3 + 3 for 6)."""
    src, out = Path(src), Path(out)
    if out.suffix != ".npz":
        raise ValueError(f"{out}: the output must be a .npz file")
    if out.is_dir():
        raise ValueError(f"{out}: is a folder; --out must name the .npz file to write")
    check_output(out, [src])
    state = load_state_dict(src)
    if names.is_generator_state(state):
        check_channels(detect_any_generator(state, src),
                       {"input_nc": input_nc, "output_nc": output_nc}, src)
        model, opts = torch_generator(src, use_dropout, state)
        tree = {"options": opts.to_dict(), "G": model.state_dict()}
        summary = {"network": "G", "netG": opts.netG, **detect_any_generator(state, src)}
    else:
        arch = names.detect_discriminator(state, src)
        model = names.build_discriminator(state, source=src)
        opts = TrainOptions(netD=arch["netD"], n_layers_D=arch["n_layers_D"],
                            ndf=arch["ndf"], norm=arch["norm"],
                            **split_channels(arch["input_nc"], input_nc, output_nc, src))
        tree = {"options": opts.to_dict(), "D": model.state_dict()}
        summary = {"network": "D", **arch}
    tree["converted_from"] = src.name
    checkpoint.save_checkpoint(out.parent, out.stem, tree)
    return {**summary, "parameters": model.num_parameters()}


def split_channels(total: int, input_nc, output_nc, src) -> dict:
    """input_nc + output_nc of a discriminator that sees `total` channels."""
    if input_nc is None and output_nc is None:
        input_nc = total // 2
    input_nc = total - output_nc if input_nc is None else input_nc
    output_nc = total - input_nc if output_nc is None else output_nc
    if input_nc + output_nc != total or min(input_nc, output_nc) < 1:
        raise ValueError(f"{src}: the discriminator sees {total} channels, which is not "
                         f"--input-nc {input_nc} + --output-nc {output_nc}")
    return {"input_nc": input_nc, "output_nc": output_nc}
