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
from p2p_cupy.data.images import list_images, read_image, to_chw, to_uint8_image
from p2p_cupy.errors import P2PError
from p2p_cupy.interop.convert import torch_generator
from p2p_cupy.safe_files import replace_atomically
from p2p_cupy.train import checkpoint, expected
from p2p_cupy.train.build import networks_from_options


def load_generator(source, eval_mode=False, epoch=None):
    """(G on the current backend, its TrainOptions) from a run folder (its latest
    checkpoint, or the one kept after `epoch`), a checkpoint .npz (e.g. from `p2p
    convert`), or a PyTorch pix2pix generator .pth (read without torch, through
    p2p_cupy/interop)."""
    source = Path(source)
    if source.suffix == ".pth":
        G, opts = torch_generator(source)
        return G.train(not eval_mode), opts
    if source.is_file() and epoch not in (None, "latest"):
        raise P2PError(f"--epoch {epoch}: {source} is a single checkpoint; --epoch picks one "
                       f"of a run folder's")
    path = source if source.is_file() else checkpoint.run_checkpoint(source, epoch)
    ckpt = checkpoint.CheckpointFile(path)        # checked; no weights read yet
    ckpt.check({"options": dict, "G": dict})      # before building G for nothing
    opts = expected.saved_options(ckpt)
    G, _ = networks_from_options(opts)
    G.load_state_dict(ckpt.load(expected.generator_spec(G))["G"])
    G.train(not eval_mode)
    return G, opts


def check_channels(G, input_nc, output_nc, source):
    """--input-nc / --output-nc of test, translate: must be what the model has (None: any)."""
    for name, given, has in (("input", input_nc, G.input_nc), ("output", output_nc,
                                                                G.output_nc)):
        if given is not None and given != has:
            raise P2PError(f"--{name}-nc {given}: the generator of {source} has {has} "
                           f"{name} channels")


def translate(G, images: np.ndarray) -> np.ndarray:
    """Host batch (N, C, H, W) in [-1, 1] -> the generator's host output."""
    bk = backend.current()
    return bk.to_numpy(G.forward(bk.asarray(images.astype(np.float32))))


def parse_size(text):
    """--size: "N" (the longer side becomes N, the aspect kept) or "WxH"; None: as is."""
    if text is None:
        return None
    try:
        parts = [int(p) for p in str(text).lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise P2PError(f"--size {text!r}: expected N (longer side) or WxH, e.g. 512 or 640x480")
    return tuple(parts)


def resized(img: Image.Image, size) -> Image.Image:
    """img resized (bicubic) to --size (see parse_size)."""
    if size is None:
        return img
    if len(size) == 2:
        target = size
    else:
        scale = size[0] / max(img.size)
        target = tuple(max(1, round(s * scale)) for s in img.size)
    return img if target == img.size else img.resize(target, Image.BICUBIC)


def read_input(path, channels: int, size=None) -> np.ndarray:
    """An image file as float32 (C, H, W) in [-1, 1] with `channels` channels, resized to
    --size first if given (the project's image reader: one clean error for a bad file)."""
    return to_chw(resized(read_image(path, channels), size))


def expand_inputs(paths) -> list:
    """Files as given, folders replaced by the images directly inside them (sorted); the
    output names are chosen by p2p_cupy/output_paths.py."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            found = list_images(path)
            if not found:
                raise P2PError(f"{path}: no images in this folder")
            files += found
        else:
            files.append(path)
    return files


def save_image(chw, path):
    """A (C, H, W) array in [-1, 1] as an image file (format from the suffix), atomically:
    one channel as grayscale, else RGB."""
    path = Path(path)
    rgb = to_uint8_image(chw)
    image = Image.fromarray(rgb[:, :, 0] if chw.shape[0] == 1 else rgb)
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    replace_atomically(path, lambda f: image.save(f, format=fmt))
