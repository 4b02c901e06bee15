"""An edge detector in NumPy for edges->photo pairs (the job HED + post-processing does
for the reference edges2shoes set): thin, connected lines without speckle.

  1. Gaussian blur (sigma 1.5): edges of shapes, not of texture and noise;
  2. Sobel gradients; magnitude and direction;
  3. non-maximum suppression: keep a pixel only where the magnitude peaks across the edge
     (lines one pixel thin);
  4. threshold relative to the image's strongest edges;
  5. remove connected fragments (8-neighbourhood) smaller than min_pixels.
"""
from __future__ import annotations

import numpy as np


def _filter_rows_cols(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable filtering with the same 1-D kernel along x then y (edge padding)."""
    r = len(kernel) // 2
    p = np.pad(img, r, mode="edge")
    h, w = img.shape
    rows = sum(k * p[:, i:i + w] for i, k in enumerate(kernel))
    return sum(k * rows[i:i + h, :] for i, k in enumerate(kernel))


def _shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """a moved by (dy, dx), zeros entering: out[y, x] = a[y - dy, x - dx]."""
    out = np.zeros_like(a)
    h, w = a.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        a[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def component_sizes(mask: np.ndarray) -> np.ndarray:
    """For each True pixel the size of its 8-connected component (0 elsewhere).

    Each pixel starts labelled with its own flat index; labels shrink to the smallest index
    in reach by repeated 3x3 minimum filtering, sped up by pointer jumping
    (label <- label[label], valid because a label is always a pixel of the same component).
    """
    h, w = mask.shape
    big = h * w
    labels = np.where(mask, np.arange(big).reshape(h, w), big)
    while True:
        neighbours = [np.pad(labels, 1, constant_values=big)[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                      for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        smaller = np.where(mask, np.minimum.reduce(neighbours), big)
        flat = smaller.ravel()
        jumped = np.where(mask.ravel(), flat[np.minimum(flat, big - 1)], big).reshape(h, w)
        if np.array_equal(jumped, labels):
            break
        labels = jumped
    counts = np.bincount(labels[mask], minlength=big)
    return np.where(mask, counts[np.minimum(labels, big - 1)], 0)


def edge_map(gray: np.ndarray, sigma: float = 1.5, threshold: float = 0.2,
             min_pixels: int = 10) -> np.ndarray:
    """Boolean H x W edge lines of a grayscale image (any value range)."""
    radius = max(1, int(3 * sigma))
    g = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    smooth = _filter_rows_cols(gray.astype(np.float64), g / g.sum())
    p = np.pad(smooth, 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    mag = np.hypot(gx, gy)
    # Direction of the gradient in 4 bins (0, 45, 90, 135 degrees), compared with the two
    # neighbours along it.
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    bins = (np.round(angle / 45.0).astype(int)) % 4
    steps = ((0, 1), (1, 1), (1, 0), (1, -1))
    peak = np.zeros_like(mag, dtype=bool)
    for b, (dy, dx) in enumerate(steps):
        # Strict on one side: of two equal neighbours across a symmetric step, one wins.
        is_max = (mag > _shift(mag, dy, dx)) & (mag >= _shift(mag, -dy, -dx))
        peak |= (bins == b) & is_max
    strongest = mag.max()
    if strongest == 0:
        return np.zeros(gray.shape, bool)
    lines = peak & (mag > threshold * strongest)
    return lines & (component_sizes(lines) >= min_pixels)
