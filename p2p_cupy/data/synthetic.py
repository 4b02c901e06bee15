"""Synthetic facades: the built-in, offline pix2pix data set (labels -> photo).

Each pair is a label map in the style of the CMP Facade database and a photo-like
rendering of it, side by side (label map on the LEFT, so it trains AtoB; the official
facades archive has the photo on the left and trains BtoA). Everything is drawn from
Generator(seed, phase, index): the same seed gives the same files, byte for byte.

Layout: sky above a facade; a roof cornice; 3-5 upper floors with a grid of windows, each
with a sill or, on some floors, a balcony; optional cornice bands between floors; a ground
floor with a door and, often, a shop front. Rendering: one color per class jittered per
image, a brick/plank/railing texture for facade/door/balcony, light from above, noise and
a slight blur. Class colors are far apart, so a per-pixel classifier can read the labels
back from a rendering: the basis of an FCN-score-like quality measure.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from p2p_cupy.safe_files import naming, write_text_atomically

# (name, color in the label map, base color in the rendering), class index = position.
CLASSES = (
    ("background", (0, 0, 170), (150, 190, 230)),     # sky
    ("facade", (0, 0, 255), (195, 168, 128)),         # plaster / light brick
    ("window", (0, 128, 255), (35, 60, 135)),         # blue glass
    ("door", (0, 255, 255), (105, 65, 35)),           # wood
    ("cornice", (128, 255, 128), (160, 165, 170)),    # grey stone
    ("sill", (255, 255, 0), (250, 250, 248)),         # white stone
    ("balcony", (255, 128, 0), (28, 28, 30)),         # iron
    ("shop", (255, 0, 0), (40, 140, 80)),             # green shop glass
)
CLASS_NAMES = tuple(name for name, _, _ in CLASSES)
LABEL_COLORS = np.array([c for _, c, _ in CLASSES], dtype=np.uint8)
PHOTO_COLORS = np.array([c for _, _, c in CLASSES], dtype=np.float32)
BACKGROUND, FACADE, WINDOW, DOOR, CORNICE, SILL, BALCONY, SHOP = range(len(CLASSES))
PHASES = ("train", "val", "test")


def _rect(labels, cls, y0, y1, x0, x1):
    h, w = labels.shape
    labels[max(0, int(y0)):min(h, int(y1)), max(0, int(x0)):min(w, int(x1))] = cls


def facade_labels(size: int, rng) -> np.ndarray:
    """A size x size map of class indices (uint8)."""
    s = size
    labels = np.full((s, s), BACKGROUND, np.uint8)
    left, right = rng.uniform(0, 0.08) * s, s - rng.uniform(0, 0.08) * s
    top = rng.uniform(0.03, 0.15) * s
    _rect(labels, FACADE, top, s, left, right)
    roof = rng.uniform(0.02, 0.04) * s
    _rect(labels, CORNICE, top, top + roof, left - 0.01 * s, right + 0.01 * s)
    ground = rng.uniform(0.15, 0.22) * s
    width = right - left
    n_floors, n_cols = int(rng.integers(3, 6)), int(rng.integers(3, 7))
    floor_h = (s - ground - top - roof) / n_floors
    cell_w = width / n_cols
    win_w, win_h = cell_w * rng.uniform(0.4, 0.6), floor_h * rng.uniform(0.45, 0.65)
    bands = rng.random() < 0.5
    for f in range(n_floors):
        y = top + roof + f * floor_h
        if bands and f > 0:
            _rect(labels, CORNICE, y, y + 0.012 * s, left, right)
        wy0 = y + (floor_h - win_h) * 0.45
        wy1 = wy0 + win_h
        balcony = rng.random() < 0.3
        for c in range(n_cols):
            wx0 = left + c * cell_w + (cell_w - win_w) / 2
            wx1 = wx0 + win_w
            _rect(labels, WINDOW, wy0, wy1, wx0, wx1)
            if balcony:
                pad = 0.12 * win_w
                _rect(labels, BALCONY, wy1 - 0.3 * win_h, wy1 + 0.06 * floor_h,
                      wx0 - pad, wx1 + pad)
            else:
                _rect(labels, SILL, wy1, wy1 + max(2, 0.012 * s), wx0 - 0.08 * win_w,
                      wx1 + 0.08 * win_w)
    gy0 = s - ground
    _rect(labels, CORNICE, gy0 - 0.015 * s, gy0, left, right)
    if rng.random() < 0.6:
        _rect(labels, SHOP, gy0 + 0.15 * ground, s - 0.1 * ground, left + 0.05 * width,
              right - 0.05 * width)
    door_w = rng.uniform(0.08, 0.12) * s
    door_x = left + rng.uniform(0.1, 0.9) * (width - door_w)
    _rect(labels, DOOR, s - rng.uniform(0.6, 0.8) * ground, s, door_x, door_x + door_w)
    return labels


def render(labels: np.ndarray, rng) -> np.ndarray:
    """A photo-like uint8 H x W x 3 rendering of a label map."""
    h, w = labels.shape
    colors = PHOTO_COLORS + rng.uniform(-8, 8, PHOTO_COLORS.shape).astype(np.float32)
    yy, xx = np.ogrid[0:h, 0:w]
    # Textures, each only on its own class: brick mortar lines, door planks, railing bars;
    # built as one brightness factor per pixel (cheaper than masked updates of the image).
    brick = int(rng.integers(5, 9))
    mortar = (yy % brick == 0) | ((xx + (yy // brick) % 2 * brick) % (2 * brick) == 0)
    factor = np.where((labels == FACADE) & mortar, np.float32(0.9), np.float32(1.0))
    factor[(labels == DOOR) & (xx % 6 == 0)] = 0.75
    factor = np.where(labels == BACKGROUND, 0.9 + 0.15 * yy / h, factor)   # sky: horizon
    # Light from above and slightly from one side.
    factor *= 1.04 - 0.1 * yy / h + rng.uniform(-0.05, 0.05) * (xx / w - 0.5)
    img = np.take(colors, labels, axis=0) * factor[:, :, None].astype(np.float32)
    img += (15 * ((labels == BALCONY) & (xx % 5 < 2)))[:, :, None]
    # Sensor noise: uniform with standard deviation 5 (the blur below makes it bell-shaped;
    # uniform draws are 4x cheaper than normal ones).
    img += (rng.random(img.shape, dtype=np.float32) - 0.5) * np.float32(5 * 12 ** 0.5)
    # A 3x3 box blur (separable): the soft edges of a lens, not the hard ones of the labels.
    padded = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    rows = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    img = (rows[:-2] + rows[1:-1] + rows[2:]) / 9
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_pair(size: int, seed: int, phase: str, index: int) -> tuple:
    """(label map as class indices, label map RGB, rendering RGB) of one pair."""
    rng = np.random.default_rng([seed, PHASES.index(phase), index])
    labels = facade_labels(size, rng)
    return labels, LABEL_COLORS[labels], render(labels, rng)


def labels_from_colors(label_rgb: np.ndarray) -> np.ndarray:
    """Class indices of a label-map image (nearest label color: robust to resizing)."""
    d = ((label_rgb[:, :, None, :].astype(np.int32) - LABEL_COLORS.astype(np.int32)) ** 2)
    return d.sum(-1).argmin(-1).astype(np.uint8)


def _write_pair(job):
    size, seed, phase, index, path = job
    _, label_rgb, photo = make_pair(size, seed, phase, index)
    with naming(path):            # a full disk: the error names the file
        Image.fromarray(np.concatenate([label_rgb, photo], axis=1)).save(path, compress_level=1)


def generate(out, size: int = 256, seed: int = 0, n_train: int = 400, n_val: int = 100,
             n_test: int = 100, workers: int | None = None) -> Path:
    """Write OUT/{train,val,test}/N.png (label | photo, size x 2size) and OUT/classes.txt.

    Pairs are independent (each has its own Generator), so they are made by `workers`
    processes (default: one per CPU, at most 8) with the same files as a single process.
    Spawned, not forked: safe even when the caller holds threads or a CUDA context."""
    if size < 16:
        raise ValueError(f"synthetic facades: size must be >= 16, got {size}")
    out = Path(out)
    jobs = []
    for phase, n in zip(PHASES, (n_train, n_val, n_test)):
        (out / phase).mkdir(parents=True, exist_ok=True)
        jobs += [(size, seed, phase, i, out / phase / f"{i + 1}.png") for i in range(n)]
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    if workers > 1 and len(jobs) >= 64:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            list(pool.map(_write_pair, jobs, chunksize=16))
    else:
        for job in jobs:
            _write_pair(job)
    lines = [f"{i} {name} {r} {g} {b}" for i, (name, (r, g, b), _) in enumerate(CLASSES)]
    write_text_atomically(out / "classes.txt", "# index name label-color (R G B); A = label "
                          "map (left), B = photo (right)\n" + "\n".join(lines) + "\n")
    return out
