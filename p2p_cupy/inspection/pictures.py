"""Pictures of what the networks compute: feature-map grids and patch-map heat maps.

All functions take host numpy arrays and return (H, W, 3) uint8 images (Pillow draws
and resizes); saving them is the caller's business.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# A diverging scale from "fake" to "real" (ColorBrewer RdYlBu): red where D says fake,
# pale yellow where it cannot tell, blue where it says real. Stops at p = 0, .25, .5, .75, 1.
HEAT_STOPS = np.array([[215, 48, 39], [252, 141, 89], [255, 255, 191], [145, 191, 219],
                       [69, 117, 180]], dtype=np.float64)
HEAT_ALPHA = 0.6        # weight of the heat colour over the (grey) image under it


def heat_colors(p) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB along HEAT_STOPS (linear between stops)."""
    x = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0) * (len(HEAT_STOPS) - 1)
    lo = np.minimum(np.floor(x).astype(int), len(HEAT_STOPS) - 2)
    t = (x - lo)[..., None]
    return np.round(HEAT_STOPS[lo] * (1 - t) + HEAT_STOPS[lo + 1] * t).astype(np.uint8)


def upsample(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """A small (h, w) float map stretched to (height, width), bilinear (smooth patches)."""
    img = Image.fromarray(np.asarray(values, dtype=np.float32), mode="F")
    return np.asarray(img.resize((width, height), Image.BILINEAR), dtype=np.float64)


def heat_overlay(image: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """The patch map `prob` (h, w) upsampled over `image` (H, W, 3) uint8. The image is
    shown in grey underneath so that the colour can only come from the map."""
    h, w = image.shape[:2]
    grey = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    heat = heat_colors(upsample(prob, h, w)).astype(np.float64)
    mixed = (1 - HEAT_ALPHA) * grey[..., None] + HEAT_ALPHA * heat
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def font(size: int = 14):
    """Pillow's built-in font at `size` (Pillow >= 10.1), else its small bitmap font."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def color_bar(width: int, height: int = 40) -> np.ndarray:
    """The heat scale with its meaning: fake (0) ... real (1)."""
    bar = np.full((height, width, 3), 255, np.uint8)
    bar[2:16] = heat_colors(np.linspace(0, 1, width))[None]
    img = Image.fromarray(bar)
    draw, f = ImageDraw.Draw(img), font()
    for text, x in (("0: D says fake", 2), ("0.5: unsure", width / 2), ("D says real: 1", width)):
        w = draw.textlength(text, font=f)
        draw.text((min(max(2, x - w / 2), width - w - 2), 19), text, fill=(0, 0, 0), font=f)
    return np.asarray(img)


def enlarge(image: np.ndarray, min_size: int) -> np.ndarray:
    """Nearest-neighbour upscaling by an integer factor until the short side >= min_size."""
    factor = max(1, math.ceil(min_size / min(image.shape[:2])))
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def label_above(image: np.ndarray, text: str) -> np.ndarray:
    caption = Image.new("RGB", (image.shape[1], 20), (255, 255, 255))
    ImageDraw.Draw(caption).text((2, 2), text, fill=(0, 0, 0), font=font())
    return np.concatenate([np.asarray(caption), image], axis=0)


def labelled_row(tiles, min_size=256) -> np.ndarray:
    """(image, caption) pairs side by side, enlarged, with the heat colour scale below."""
    tiles = [label_above(enlarge(image, min_size), text) for image, text in tiles]
    gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
    row = np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)
    return np.concatenate([row, color_bar(row.shape[1])], axis=0)


def patch_map_panel(real_A, real_B, fake_B, prob_real, prob_fake, min_size=256) -> np.ndarray:
    """input | real B | D's map of (A, B) over B | G(A) | D's map of (A, G(A)) over G(A),
    with the colour scale below. Images are (H, W, 3) uint8, maps (h, w) in [0, 1]."""
    return labelled_row([
        (real_A, "input A"), (real_B, "real B"),
        (heat_overlay(real_B, prob_real), f"D(A, B): mean {prob_real.mean():.2f}"),
        (fake_B, "G(A)"),
        (heat_overlay(fake_B, prob_fake), f"D(A, G(A)): mean {prob_fake.mean():.2f}")], min_size)


def feature_grid(maps: np.ndarray, max_maps: int = 64, min_cell: int = 48) -> np.ndarray:
    """The channels of one activation (C, H, W) as a grid of grey tiles. Each channel is
    scaled to its own min..max (a constant channel is mid-grey), so the pattern shows
    whatever the magnitude; 1-pixel white lines separate the tiles."""
    maps = np.asarray(maps, dtype=np.float64)[:max_maps]
    n = maps.shape[0]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    lo = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - lo
    scaled = np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1), 0.5)
    tiles = [enlarge((scaled[i] * 255).round().astype(np.uint8), min_cell) for i in range(n)]
    th, tw = tiles[0].shape
    grid = np.full((rows * (th + 1) + 1, cols * (tw + 1) + 1), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[1 + r * (th + 1):1 + r * (th + 1) + th, 1 + c * (tw + 1):1 + c * (tw + 1) + tw] = tile
    return np.repeat(grid[..., None], 3, axis=2)
