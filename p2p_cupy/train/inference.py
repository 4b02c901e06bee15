"""Using a trained generator: load it from a run directory, translate images.

As in the paper (and the reference `test.py`), the generator keeps dropout and batch
statistics at test time by default; `eval_mode=True` switches to the BN running
statistics and no dropout.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from p2p_cupy import backend
from p2p_cupy.models import define_D, define_G
from p2p_cupy.models.init import DEFAULT_INIT, init_weights
from p2p_cupy.train import checkpoint
from p2p_cupy.train.options import TrainOptions
from p2p_cupy.train.report import to_uint8_image


def _initialised(net, opts, seed):
    """net with the options' --init-type/--init-gain (the layers drew the default)."""
    if (opts.init_type, opts.init_gain) != DEFAULT_INIT:
        init_weights(net, opts.init_type, opts.init_gain, seed)
    return net


def generator_from_options(opts: TrainOptions):
    """The generator a run with these options trains (weights freshly initialised)."""
    G = define_G(opts.netG, input_nc=opts.input_nc, output_nc=opts.output_nc, ngf=opts.ngf,
                 norm=opts.norm, use_dropout=not opts.no_dropout, seed=opts.seed)
    return _initialised(G, opts, opts.seed)


def discriminator_from_options(opts: TrainOptions):
    """The discriminator of a run: it judges (input, output) pairs, input_nc + output_nc
    channels."""
    D = define_D(opts.netD, input_nc=opts.input_nc + opts.output_nc, ndf=opts.ndf,
                 n_layers_D=opts.n_layers_D, norm=opts.norm, seed=opts.seed + 1)
    return _initialised(D, opts, opts.seed + 1)


def load_generator(source, eval_mode=False):
    """(G on the current backend, its TrainOptions) from a run folder (its latest
    checkpoint), a checkpoint .npz (e.g. from `p2p convert`), or a PyTorch pix2pix
    generator .pth (read without torch, see p2p_cupy/interop)."""
    source = Path(source)
    if source.suffix == ".pth":
        from p2p_cupy.interop.convert import torch_generator
        G, opts = torch_generator(source)
        return G.train(not eval_mode), opts
    path = source if source.is_file() else checkpoint.latest_checkpoint(source)
    state = checkpoint.load_checkpoint(path)
    if "G" not in state:
        raise ValueError(f"{path}: holds no generator (keys: {', '.join(sorted(state))})")
    opts = TrainOptions.from_dict(state["options"])
    G = generator_from_options(opts)
    G.load_state_dict(state["G"])
    G.train(not eval_mode)
    return G, opts


def translate(G, images: np.ndarray) -> np.ndarray:
    """Host batch (N, C, H, W) in [-1, 1] -> the generator's host output."""
    bk = backend.current()
    return bk.to_numpy(G.forward(bk.asarray(images.astype(np.float32))))


def nearest_valid_size(height: int, width: int, multiple: int):
    return tuple(max(multiple, int(round(s / multiple)) * multiple) for s in (height, width))


def load_image(path, G) -> np.ndarray:
    """An image file as (1, C, H, W) float32 in [-1, 1], checked against what G accepts."""
    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB" if G.input_nc == 3 else "L"))
    except OSError as e:
        raise ValueError(f"{path}: cannot read this image ({e})") from None
    multiple = 2 ** G.num_downs
    h, w = rgb.shape[:2]
    if h % multiple or w % multiple:
        nh, nw = nearest_valid_size(h, w, multiple)
        raise ValueError(f"{path}: {w}x{h} pixels, but this generator (num_downs "
                         f"{G.num_downs}) needs width and height multiples of {multiple}; "
                         f"the nearest valid size is {nw}x{nh}")
    chw = rgb.reshape(h, w, -1).transpose(2, 0, 1).astype(np.float32)
    return (chw / 127.5 - 1.0)[None]


def save_image(chw, path):
    Image.fromarray(to_uint8_image(chw)).save(Path(path))
