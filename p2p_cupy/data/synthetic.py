"""Synthetic facades: the built-in, offline pix2pix data set (labels -> photo).

Each pair is a label map in the style of the CMP Facade database and a photo-like
rendering of it, side by side (label map on the LEFT, so it trains AtoB; the official
facades archive has the photo on the left and trains BtoA). Everything is drawn from
Generator(seed, phase, index): the same seed and version give the same files, byte for byte.

Two versions share the classes and the file layout:

  v1  synthetic_v1.py  flat colored rectangles on a regular grid: the label map fixes the
                       rendering almost exactly (an L1 loss alone solves it)
  v2  synthetic_v2.py  (default) per-instance materials, glass, frames, shadows, lighting
                       and irregular layouts: one label map has many right renderings, the
                       ambiguity that pix2pix's GAN term is for

The built-in data roots are named `synthetic-facades` (the default version),
`synthetic-facades-v1` and `synthetic-facades-v2`.
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from p2p_cupy.safe_files import naming, write_text_atomically

# (name, color in the label map), class index = position.
CLASSES = (
    ("background", (0, 0, 170)),
    ("facade", (0, 0, 255)),
    ("window", (0, 128, 255)),
    ("door", (0, 255, 255)),
    ("cornice", (128, 255, 128)),
    ("sill", (255, 255, 0)),
    ("balcony", (255, 128, 0)),
    ("shop", (255, 0, 0)),
)
CLASS_NAMES = tuple(name for name, _ in CLASSES)
LABEL_COLORS = np.array([c for _, c in CLASSES], dtype=np.uint8)
BACKGROUND, FACADE, WINDOW, DOOR, CORNICE, SILL, BALCONY, SHOP = range(len(CLASSES))
PHASES = ("train", "val", "test")
VERSIONS = ("v1", "v2")
DEFAULT_VERSION = "v2"
DATA_NAME = "synthetic-facades"


def builtin_version(dataroot) -> str | None:
    """The version a built-in data root name stands for (None for a folder on disk)."""
    name = str(dataroot)
    if name == DATA_NAME:
        return DEFAULT_VERSION
    prefix = DATA_NAME + "-"
    if name.startswith(prefix) and name[len(prefix):] in VERSIONS:
        return name[len(prefix):]
    return None


def _renderer(version: str):
    if version not in VERSIONS:
        raise ValueError(f"synthetic facades: unknown version {version!r}; choose "
                         f"{', '.join(VERSIONS)}")
    return importlib.import_module(f"p2p_cupy.data.synthetic_{version}")


def facade_labels(size: int, rng, version: str = DEFAULT_VERSION) -> np.ndarray:
    """A label map alone (class indices, uint8): `p2p serve`'s starting drawings."""
    return _renderer(version).facade_labels(size, rng)


def make_pair(size: int, seed: int, phase: str, index: int, version: str = DEFAULT_VERSION):
    """(label map as class indices, label map RGB, rendering RGB) of one pair."""
    renderer = _renderer(version)
    rng = np.random.default_rng([seed, PHASES.index(phase), index])
    labels, photo = renderer.labels_and_photo(size, rng)
    return labels, LABEL_COLORS[labels], photo


def labels_from_colors(label_rgb: np.ndarray) -> np.ndarray:
    """Class indices of a label-map image (nearest label color: robust to resizing)."""
    d = ((label_rgb[:, :, None, :].astype(np.int32) - LABEL_COLORS.astype(np.int32)) ** 2)
    return d.sum(-1).argmin(-1).astype(np.uint8)


def _write_pair(job):
    size, seed, phase, index, path, version = job
    _, label_rgb, photo = make_pair(size, seed, phase, index, version)
    with naming(path):            # a full disk: the error names the file
        Image.fromarray(np.concatenate([label_rgb, photo], axis=1)).save(path, compress_level=1)


def _worker_context():
    """Forked workers where forking is safe: on Linux, from a process with one thread and no
    CUDA context. They need nothing from the caller's script, so a script that calls
    generate() without `if __name__ == "__main__":` works (a spawned worker re-runs the
    script's top level, and Python refuses to start it from there). Otherwise spawned:
    forking a process that holds threads or a CUDA context can deadlock the child."""
    if (sys.platform.startswith("linux") and threading.active_count() == 1
            and "cupy" not in sys.modules):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def generate(out, size: int = 256, seed: int = 0, n_train: int = 400, n_val: int = 100,
             n_test: int = 100, workers: int | None = None,
             version: str = DEFAULT_VERSION) -> Path:
    """Write OUT/{train,val,test}/N.png (label | photo, size x 2size) and OUT/classes.txt.

    Pairs are independent (each has its own Generator), so they are made by `workers`
    processes (default: one per CPU, at most 8) with the same files as a single process
    (how they start: _worker_context)."""
    if size < 16:
        raise ValueError(f"synthetic facades: size must be >= 16, got {size}")
    _renderer(version)                        # an unknown version fails before any file
    out = Path(out)
    jobs = []
    for phase, n in zip(PHASES, (n_train, n_val, n_test)):
        (out / phase).mkdir(parents=True, exist_ok=True)
        jobs += [(size, seed, phase, i, out / phase / f"{i + 1}.png", version)
                 for i in range(n)]
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    if workers > 1 and len(jobs) >= 64:
        with ProcessPoolExecutor(workers, mp_context=_worker_context()) as pool:
            list(pool.map(_write_pair, jobs, chunksize=16))
    else:
        for job in jobs:
            _write_pair(job)
    lines = [f"{i} {name} {r} {g} {b}" for i, (name, (r, g, b)) in enumerate(CLASSES)]
    write_text_atomically(
        out / "classes.txt",
        f"# synthetic facades {version}, seed {seed}; index name label-color (R G B); "
        "A = label map (left), B = photo (right)\n" + "\n".join(lines) + "\n")
    return out
