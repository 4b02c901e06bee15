"""The PyTorch pix2pix implementation's parameter names, mapped onto our models.

Its U-Net is nested: each level is a UnetSkipConnectionBlock whose `model` Sequential
holds the next level at index 1 (outermost) or 3 (the others). Level k (1 = outermost,
N = innermost) therefore lives under

    level 1:  model.model.            [0] conv            [3] convT (bias)   ([1] = level 2)
    level k:  model.model.1.model. + "3.model." * (k - 2)
              middle:    [1] conv  [2] norm  [3] level k+1  [5] convT  [6] norm  ([7] dropout)
              innermost: [1] conv                          [3] convT  [4] norm

The norm slots exist with every norm (instance norm and `none`'s Identity have no
parameters, but still take their index). Its ResnetGenerator is one flat Sequential
`model.<i>` (residual block i: `model.<i>.conv_block.<j>`), which our ResnetGenerator
rebuilds index for index, so there the names are ours as they are; a block's second conv
sits at conv_block.6 when the blocks have dropout and at conv_block.5 when not, so unlike
the U-Net's, a ResNet checkpoint tells whether it was trained with dropout. Its
discriminators are flat Sequentials: NLayerDiscriminator `model.<i>` (convs at 0, 2+3j,
3n+2; norms at 3+3j) and PixelDiscriminator `net.<i>` (convs 0, 2, 5; norm 3). A
checkpoint saved from DataParallel has `module.` in front; `num_batches_tracked` is a
counter we don't keep.
"""
from __future__ import annotations

import re

import numpy as np

from p2p_cupy import nn
from p2p_cupy.errors import some_of
from p2p_cupy.models import (RESNET_GENERATORS, PatchGAN, PixelDiscriminator, ResnetGenerator,
                             UNetGenerator, define_D, define_G)

CONVS = (nn.Conv2d, nn.ConvTranspose2d)
NORMS = (nn.BatchNorm2d, nn.InstanceNorm2d)


def clean_state(state: dict) -> dict:
    """Drop DataParallel's `module.` prefix and BatchNorm's num_batches_tracked."""
    return {re.sub(r"^module\.", "", k): v for k, v in state.items()
            if not k.endswith("num_batches_tracked")}


def level_prefix(k: int) -> str:
    return "model.model." if k == 1 else "model.model.1.model." + "3.model." * (k - 2)


def _generator_index(seq_name: str, layer, num_downs: int) -> str:
    """The reference Sequential index of one of our layers in enc<k> / dec<k>."""
    kind, k = seq_name[:3], int(seq_name[3:])
    role = "conv" if isinstance(layer, CONVS) else "norm"
    if k == 1:
        return "0" if kind == "enc" else "3"
    if k == num_downs:
        return {"enc": {"conv": "1"}, "dec": {"conv": "3", "norm": "4"}}[kind][role]
    return {"enc": {"conv": "1", "norm": "2"}, "dec": {"conv": "5", "norm": "6"}}[kind][role]


def generator_names(G) -> dict:
    """Our module path -> the reference's, for every layer of G that holds arrays."""
    names = {}
    for path, layer in G.named_modules():
        holds_arrays = next(layer.named_parameters(), None) or next(layer.named_buffers(), None)
        if not (isinstance(layer, CONVS + NORMS) and holds_arrays):
            continue
        if isinstance(G, ResnetGenerator):
            names[path] = path                         # built with the reference's indices
        else:
            seq_name = path.split(".")[0]
            names[path] = level_prefix(int(seq_name[3:])) + _generator_index(
                seq_name, layer, G.num_downs)
    return names


def discriminator_names(D) -> dict:
    """Our module path -> the reference's, for PatchGAN and PixelDiscriminator."""
    if isinstance(D, PixelDiscriminator):
        prefix, conv_at, norm_at = "net.", [0, 2, 5], [3]
    elif isinstance(D, PatchGAN):
        n = D.n_layers
        prefix, conv_at, norm_at = "model.", [0, *(2 + 3 * j for j in range(n)), 3 * n + 2], \
            [3 + 3 * j for j in range(n)]
    else:
        raise ValueError(f"no reference names for {type(D).__name__}")
    convs = [path for path, layer in D.named_modules() if isinstance(layer, CONVS)]
    norms = [path for path, layer in D.named_modules() if isinstance(layer, NORMS)]
    names = {ours: f"{prefix}{i}" for ours, i in zip(convs, conv_at)}
    names.update({ours: f"{prefix}{i}" for ours, i in zip(norms, norm_at)})
    return names


def module_names(model) -> dict:
    return generator_names(model) if isinstance(model, (UNetGenerator, ResnetGenerator)) \
        else discriminator_names(model)


def reference_key(model, our_key: str, names=None):
    """The reference state_dict key of one of our keys (None: ours only, e.g. dropout)."""
    names = module_names(model) if names is None else names
    path, leaf = our_key.rsplit(".", 1)
    return f"{names[path]}.{leaf}" if path in names else None


def to_our_state(model, ref_state: dict, source="checkpoint") -> dict:
    """The reference state_dict as our model's, every name and shape checked.

    Arrays only we have (the dropout step counters) keep the model's current values.
    """
    ref_state = clean_state(ref_state)
    ours = model.state_dict()
    names = module_names(model)
    out, missing, wrong_shape = {}, [], []
    used = set()
    for key, current in ours.items():
        ref = reference_key(model, key, names)
        if ref is None:
            out[key] = current
        elif ref not in ref_state:
            missing.append(ref)
        else:
            used.add(ref)
            value = np.asarray(ref_state[ref])
            if value.shape != current.shape:
                wrong_shape.append(f"{ref} {value.shape} (expected {current.shape} for {key})")
            out[key] = value.astype(current.dtype)
    unexpected = sorted(set(ref_state) - used)
    problems = []
    if missing:
        problems.append(f"missing keys: {some_of(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {some_of(unexpected)}")
    if wrong_shape:
        problems.append(f"wrong shapes: {'; '.join(wrong_shape)}")
    if problems:
        raise ValueError(f"{source}: does not fit {type(model).__name__} "
                         f"({'; '.join(problems)})")
    return out


def _norm_of(state: dict, first_conv: str) -> str:
    """batch when BN buffers exist, else instance when the convs carry a bias (exactly when
    the norm is instance norm), else none."""
    if any(k.endswith("running_mean") for k in state):
        return "batch"
    return "instance" if f"{first_conv}.bias" in state else "none"


def is_resnet_state(state: dict) -> bool:
    """The ResnetGenerator's stem conv model.1 is 7x7 (a discriminator has no model.1)."""
    stem = clean_state(state).get("model.1.weight")
    return stem is not None and np.ndim(stem) == 4 and np.shape(stem)[-1] == 7


def detect_resnet_generator(state: dict, source="checkpoint") -> dict:
    """define_G arguments of a reference ResnetGenerator state_dict (n_blocks, ngf, norm,
    use_dropout, input_nc, output_nc)."""
    state = clean_state(state)
    if not is_resnet_state(state):
        raise ValueError(f"{source}: not a pix2pix ResnetGenerator state_dict (no 7x7 "
                         "model.1.weight)")
    blocks = {int(k.split(".")[1]) for k in state if ".conv_block." in k}
    n_blocks = len(blocks)
    if blocks != set(range(10, 10 + n_blocks)):
        found = ", ".join(f"model.{i}" for i in sorted(blocks))
        raise ValueError(f"{source}: residual blocks at {found} (expected model.10 onwards, "
                         "one after another)")
    last = f"model.{17 + n_blocks}.weight"          # the 7x7 conv in front of the tanh
    if last not in state:
        raise ValueError(f"{source}: a ResnetGenerator with {n_blocks} blocks has its last "
                         f"conv at {last}, which is missing")
    # the second conv at conv_block.6 (not the norm at .6 of a dropout-free block)
    use_dropout = n_blocks > 0 and np.ndim(state.get("model.10.conv_block.6.weight")) == 4
    stem = state["model.1.weight"]
    return {"n_blocks": n_blocks, "ngf": int(stem.shape[0]), "norm": _norm_of(state, "model.1"),
            "use_dropout": use_dropout, "input_nc": int(stem.shape[1]),
            "output_nc": int(state[last].shape[0])}


def detect_generator(state: dict, source="checkpoint") -> dict:
    """define_G arguments of a reference UnetGenerator state_dict (num_downs, ngf, norm,
    input_nc, output_nc)."""
    state = clean_state(state)
    first, last = "model.model.0.weight", "model.model.3.weight"
    if first not in state or last not in state:
        raise ValueError(f"{source}: not a pix2pix UnetGenerator state_dict (no {first} / {last})")
    num_downs = 1
    while f"{level_prefix(num_downs + 1)}1.weight" in state:
        num_downs += 1
    return {"num_downs": num_downs, "ngf": int(state[first].shape[0]),
            "norm": _norm_of(state, f"{level_prefix(2)}1"),
            "input_nc": int(state[first].shape[1]), "output_nc": int(state[last].shape[1])}


def detect_discriminator(state: dict, source="checkpoint") -> dict:
    """define_D arguments of a reference NLayer/PixelDiscriminator state_dict."""
    state = clean_state(state)
    prefix = "net." if "net.0.weight" in state else "model."
    if f"{prefix}0.weight" not in state:
        raise ValueError(f"{source}: neither a pix2pix UnetGenerator nor a discriminator "
                         "state_dict (no model.model.0.weight, model.0.weight or net.0.weight)")
    first = state[f"{prefix}0.weight"]
    if f"{prefix}3.running_mean" in state:          # the first norm slot, both kinds
        norm = "batch"
    elif f"{prefix}2.bias" in state:                  # the conv in front of it
        norm = "instance"
    else:
        norm = "none"
    out = {"ndf": int(first.shape[0]), "input_nc": int(first.shape[1]), "norm": norm}
    if prefix == "net.":
        return {**out, "netD": "pixel", "n_layers_D": 3}
    convs = [k for k, v in state.items() if k.endswith(".weight") and np.ndim(v) == 4]
    return {**out, "netD": "n_layers", "n_layers_D": len(convs) - 2}


def is_generator_state(state: dict) -> bool:
    return "model.model.0.weight" in clean_state(state) or is_resnet_state(state)


def resnet_netG(n_blocks: int):
    """(netG, n_blocks option) naming a ResNet generator: resnet_9blocks / resnet_6blocks,
    or resnet_9blocks with an explicit n_blocks for any other count."""
    netG = f"resnet_{n_blocks}blocks"
    return (netG, None) if netG in RESNET_GENERATORS else ("resnet_9blocks", n_blocks)


def build_generator(state: dict, use_dropout=True, source="checkpoint"):
    """Our generator, architecture detected from and weights loaded from a reference one
    (a ResNet's dropout is detected; a U-Net's is use_dropout)."""
    if is_resnet_state(state):
        arch = detect_resnet_generator(state, source)
        G = define_G("resnet_9blocks", input_nc=arch["input_nc"], output_nc=arch["output_nc"],
                     ngf=arch["ngf"], norm=arch["norm"], use_dropout=arch["use_dropout"],
                     n_blocks=arch["n_blocks"])
        return G.load_state_dict(to_our_state(G, state, source))
    arch = detect_generator(state, source)
    G = define_G("unet", input_nc=arch["input_nc"], output_nc=arch["output_nc"],
                 ngf=arch["ngf"], norm=arch["norm"], use_dropout=use_dropout,
                 num_downs=arch["num_downs"])
    return G.load_state_dict(to_our_state(G, state, source))


def build_discriminator(state: dict, source="checkpoint"):
    arch = detect_discriminator(state, source)
    D = define_D(arch["netD"], arch["input_nc"], arch["ndf"], arch["n_layers_D"], arch["norm"])
    return D.load_state_dict(to_our_state(D, state, source))
