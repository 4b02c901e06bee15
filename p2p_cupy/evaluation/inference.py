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
from p2p_cupy.data.images import read_image, to_chw, to_uint8_image
from p2p_cupy.interop.convert import torch_generator
from p2p_cupy.safe_files import replace_atomically
from p2p_cupy.train import checkpoint, expected
from p2p_cupy.train.build import networks_from_options


def load_generator(source, eval_mode=False):
    """(G on the current backend, its TrainOptions) from a run folder (its latest
    checkpoint), a checkpoint .npz (e.g. from `p2p convert`), or a PyTorch pix2pix
    generator .pth (read without torch, through p2p_cupy/interop)."""
    source = Path(source)
    if source.suffix == ".pth":
        G, opts = torch_generator(source)
        return G.train(not eval_mode), opts
    path = source if source.is_file() else checkpoint.latest_checkpoint(source)
    ckpt = checkpoint.CheckpointFile(path)        # checked; no weights read yet
    ckpt.check({"options": dict, "G": dict})      # before building G for nothing
    opts = expected.saved_options(ckpt)
    G, _ = networks_from_options(opts)
    G.load_state_dict(ckpt.load(expected.generator_spec(G))["G"])
    G.train(not eval_mode)
    return G, opts


def translate(G, images: np.ndarray) -> np.ndarray:
    """Host batch (N, C, H, W) in [-1, 1] -> the generator's host output."""
    bk = backend.current()
    return bk.to_numpy(G.forward(bk.asarray(images.astype(np.float32))))


def nearest_valid_size(height: int, width: int, multiple: int):
    return tuple(max(multiple, int(round(s / multiple)) * multiple) for s in (height, width))


def load_image(path, G) -> np.ndarray:
    """An image file as (1, C, H, W) float32 in [-1, 1], read exactly as training reads
    (p2p_cupy/data/images.py: 16-bit scaling, transparency on white, the pixel cap) and
    checked against the sizes G accepts."""
    chw = to_chw(read_image(path, G.input_nc))
    multiple = G.size_multiple
    h, w = chw.shape[1:]
    if h % multiple or w % multiple:
        nh, nw = nearest_valid_size(h, w, multiple)
        raise ValueError(f"{path}: {w}x{h} pixels, but this generator needs width and height "
                         f"multiples of {multiple}; the nearest valid size is {nw}x{nh}")
    return chw[None]


def save_image(chw, path):
    """A (C, H, W) array in [-1, 1] as an image file (format from the suffix), atomically."""
    path = Path(path)
    image = Image.fromarray(to_uint8_image(chw))
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    replace_atomically(path, lambda f: image.save(f, format=fmt))
