"""Synthetic facades, version 1 (`synthetic-facades-v1`): flat colored rectangles.

Layout: sky above a facade; a roof cornice; 3-5 upper floors with a regular grid of
windows, each with a sill or, on some floors, a balcony; optional cornice bands between
floors; a ground floor with a door and, often, a shop front. Rendering: one color per class
jittered per image, a brick/plank/railing texture for facade/door/balcony, light from above,
noise and a slight blur. A label map determines its rendering almost exactly (a per-pixel
nearest-color classifier reads 93% of the labels back), so an L1 loss alone solves it:
kept for reproducing old runs; version 2 (synthetic_v2.py) is the default.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy.data.synthetic import (BACKGROUND, BALCONY, CLASS_NAMES, CORNICE, DOOR,
                                     FACADE, SHOP, SILL, WINDOW)

# The base color of each class in the rendering, in the order of CLASS_NAMES.
PHOTO_COLORS = np.array([
    (150, 190, 230),     # background: sky
    (195, 168, 128),     # facade: plaster / light brick
    (35, 60, 135),       # window: blue glass
    (105, 65, 35),       # door: wood
    (160, 165, 170),     # cornice: grey stone
    (250, 250, 248),     # sill: white stone
    (28, 28, 30),        # balcony: iron
    (40, 140, 80),       # shop: green shop glass
], dtype=np.float32)
assert len(PHOTO_COLORS) == len(CLASS_NAMES)


def rect(labels, cls, y0, y1, x0, x1):
    h, w = labels.shape
    labels[max(0, int(y0)):min(h, int(y1)), max(0, int(x0)):min(w, int(x1))] = cls


def facade_labels(size: int, rng) -> np.ndarray:
    """A size x size map of class indices (uint8)."""
    s = size
    labels = np.full((s, s), BACKGROUND, np.uint8)
    left, right = rng.uniform(0, 0.08) * s, s - rng.uniform(0, 0.08) * s
    top = rng.uniform(0.03, 0.15) * s
    rect(labels, FACADE, top, s, left, right)
    roof = rng.uniform(0.02, 0.04) * s
    rect(labels, CORNICE, top, top + roof, left - 0.01 * s, right + 0.01 * s)
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
            rect(labels, CORNICE, y, y + 0.012 * s, left, right)
        wy0 = y + (floor_h - win_h) * 0.45
        wy1 = wy0 + win_h
        balcony = rng.random() < 0.3
        for c in range(n_cols):
            wx0 = left + c * cell_w + (cell_w - win_w) / 2
            wx1 = wx0 + win_w
            rect(labels, WINDOW, wy0, wy1, wx0, wx1)
            if balcony:
                pad = 0.12 * win_w
                rect(labels, BALCONY, wy1 - 0.3 * win_h, wy1 + 0.06 * floor_h,
                      wx0 - pad, wx1 + pad)
            else:
                rect(labels, SILL, wy1, wy1 + max(2, 0.012 * s), wx0 - 0.08 * win_w,
                      wx1 + 0.08 * win_w)
    gy0 = s - ground
    rect(labels, CORNICE, gy0 - 0.015 * s, gy0, left, right)
    if rng.random() < 0.6:
        rect(labels, SHOP, gy0 + 0.15 * ground, s - 0.1 * ground, left + 0.05 * width,
              right - 0.05 * width)
    door_w = rng.uniform(0.08, 0.12) * s
    door_x = left + rng.uniform(0.1, 0.9) * (width - door_w)
    rect(labels, DOOR, s - rng.uniform(0.6, 0.8) * ground, s, door_x, door_x + door_w)
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


def labels_and_photo(size: int, rng) -> tuple:
    """(class indices, uint8 rendering) of one pair."""
    labels = facade_labels(size, rng)
    return labels, render(labels, rng)
