"""Tiny AB data sets for tests that need a run: random pixels (A) beside their negative (B)."""
import numpy as np
from PIL import Image


def write_random_pairs(folder, n, size=32, rng=None):
    """folder/0.png ... folder/{n-1}.png, each A | 255 - A of size x size pixels, A drawn from
    `rng` (default: a fresh generator of seed 0); returns the folder."""
    rng = np.random.default_rng(0) if rng is None else rng
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(folder / f"{i}.png")
    return folder
