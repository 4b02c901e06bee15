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
from p2p_cupy.train import checkpoint
from p2p_cupy.train.options import TrainOptions


def generator_options(arch: dict, use_dropout: bool) -> TrainOptions:
    """The options of a run that trains this generator (p2p runs are RGB -> RGB)."""
    if "n_blocks" in arch:                       # a ResNet: its dropout is in the names
        if arch["input_nc"] != 3 or arch["output_nc"] != 3:
            raise ValueError(f"a ResNet generator with {arch['input_nc']} -> "
                             f"{arch['output_nc']} channels has no p2p netG (3 -> 3 only)")
        netG, n_blocks = names.resnet_netG(arch["n_blocks"])
        return TrainOptions(netG=netG, n_blocks=n_blocks, ngf=arch["ngf"], norm=arch["norm"],
                            no_dropout=not arch["use_dropout"])
    netG = f"unet_{2 ** arch['num_downs']}"
    if netG not in GENERATORS or arch["input_nc"] != 3 or arch["output_nc"] != 3:
        raise ValueError(f"a U-Net with {arch['num_downs']} levels and {arch['input_nc']} -> "
                         f"{arch['output_nc']} channels has no p2p netG (supported: "
                         f"{', '.join(GENERATORS)}, 3 -> 3 channels)")
    return TrainOptions(netG=netG, ngf=arch["ngf"], norm=arch["norm"],
                        no_dropout=not use_dropout)


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


def convert_checkpoint(src, out, use_dropout=True) -> dict:
    """Convert src (.pth) into out (.npz); returns what was detected."""
    src, out = Path(src), Path(out)
    if out.suffix != ".npz":
        raise ValueError(f"{out}: the output must be a .npz file")
    if out.is_dir():
        raise ValueError(f"{out}: is a folder; --out must name the .npz file to write")
    if out.resolve() == src.resolve():
        raise ValueError(f"{out}: is the input; choose another --out")
    state = load_state_dict(src)
    if names.is_generator_state(state):
        model, opts = torch_generator(src, use_dropout, state)
        tree = {"options": opts.to_dict(), "G": model.state_dict()}
        summary = {"network": "G", "netG": opts.netG, **detect_any_generator(state, src)}
    else:
        arch = names.detect_discriminator(state, src)
        model = names.build_discriminator(state, source=src)
        opts = TrainOptions(netD=arch["netD"], n_layers_D=arch["n_layers_D"],
                            ndf=arch["ndf"], norm=arch["norm"])
        tree = {"options": opts.to_dict(), "D": model.state_dict()}
        summary = {"network": "D", **arch}
    tree["converted_from"] = src.name
    checkpoint.save_checkpoint(out.parent, out.stem, tree)
    return {**summary, "parameters": model.num_parameters()}
