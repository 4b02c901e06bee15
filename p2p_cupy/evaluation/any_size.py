"""Translating images of any size: fit to the generator's stride, and tiles for big ones.

A generator accepts sides that are multiples of its stride, G.size_multiple (2^num_downs
for a U-Net: 256 for unet_256; 4 for the ResNets). Other images are fitted (--fit) and
the output brought back:
  pad     reflect-pad each side up to the next multiple (split evenly before and after),
          translate, crop the padding away: every output pixel is the translation of the
          input pixel at that spot (default)
  resize  resize (bicubic) to the nearest valid size, translate, resize back
  none    neither: the image is covered by the largest valid windows that fit inside it
          (two per side, overlapping), translated and cross-faded as tiles are; nothing
          invented at the borders, nothing resampled

Big images are translated in overlapping square tiles (--tile T, a multiple of the
stride), each output pixel a weighted mean of the tiles covering it. The weights fall
linearly to almost 0 over the overlap toward a tile's edge, so where two tiles meet their
outputs are cross-faded instead of cut: no seam. Without --tile, an image is tiled when
the generator's estimated memory for it exceeds the budget: the estimate is
bytes-per-pixel x pixels, the bytes per pixel measured once (tracemalloc peak of one
forward pass at a small valid size; the host backends only).

In train mode (the default, as in the paper) batch norm uses each forward's own batch
statistics, so each tile is normalised on its own content; --eval (running statistics)
makes a tiled output match the untiled one up to the generator's border effects.
"""
from __future__ import annotations

import tracemalloc

import numpy as np
from PIL import Image

from p2p_cupy import backend
from p2p_cupy.errors import P2PError
from p2p_cupy.evaluation.inference import translate

FIT_MODES = ("pad", "resize", "none")
SURELY_FITS_BYTES_PER_PIXEL = 4096    # below budget / this many pixels, no need to measure
PROBE_SIDE = 64          # the measuring forward's side (a ResNet's 4 would be too small)


def nearest_valid_size(height: int, width: int, multiple: int):
    return tuple(max(multiple, int(round(s / multiple)) * multiple) for s in (height, width))


def resize_chw(chw: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize of a float (C, H, W) array, channel by channel (Pillow's "F" mode)."""
    if chw.shape[1:] == (height, width):
        return chw
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(c, np.float32), "F")
                                .resize((width, height), Image.BICUBIC)) for c in chw])


def _pad_amounts(size: int, multiple: int):
    total = -size % multiple
    return total // 2, total - total // 2


def fit(chw: np.ndarray, multiple: int, mode: str, name="image"):
    """(fitted (C, H', W'), undo) for pad and resize; undo maps the output back to (H, W)."""
    h, w = chw.shape[1:]
    if mode == "pad":
        (top, bottom), (left, right) = _pad_amounts(h, multiple), _pad_amounts(w, multiple)
        padded = np.pad(chw, ((0, 0), (top, bottom), (left, right)), mode="reflect")
        return padded, lambda out: out[:, top:top + h, left:left + w]
    if mode == "resize":
        nh, nw = nearest_valid_size(h, w, multiple)
        return resize_chw(chw, nh, nw), lambda out: resize_chw(out, h, w)
    raise P2PError(f"--fit {mode!r}: choose {', '.join(FIT_MODES)}")


def largest_window(h: int, w: int, multiple: int, name="image"):
    """The largest (height, width) of valid size inside an h x w image (--fit none)."""
    if min(h, w) < multiple:
        raise P2PError(f"{name}: {w}x{h} pixels; with --fit none this generator needs at "
                       f"least {multiple} pixels on each side (or use --fit pad or resize)")
    return h // multiple * multiple, w // multiple * multiple


def translate_whole(G, chw: np.ndarray) -> np.ndarray:
    """One forward of G on a (C, H, W) host image of valid size; the (C', H, W) output."""
    return translate(G, chw[None])[0]


def tile_starts(size: int, tile: int, step: int) -> list:
    """Tile offsets along one side: every `step`, the last one flush with the end."""
    if size <= tile:
        return [0]
    return list(range(0, size - tile, max(step, 1))) + [size - tile]


def blend_window(tile: int, overlap: int) -> np.ndarray:
    """(tile,) weights: 1 inside, falling linearly toward the edges over `overlap` pixels
    (never 0, so an image border covered by one tile keeps its value)."""
    ramp = (np.arange(tile) + 0.5) / max(overlap, 1)
    return np.minimum(1.0, np.minimum(ramp, ramp[::-1])).astype(np.float32)


def translate_tiled(G, chw: np.ndarray, tile_hw, overlap: int, progress=None) -> np.ndarray:
    """G on overlapping windows of tile_hw = (th, tw), at least `overlap` pixels shared by
    neighbours, cross-faded over the overlap; returns (C', H, W). The image must be at
    least one window on each side. progress(done, total) is called per window."""
    _, h, w = chw.shape
    (th, tw) = tile_hw
    if not 0 <= overlap < min(th, tw):
        raise P2PError(f"--tile-overlap {overlap} must be at least 0 and less than the tile "
                       f"size {min(th, tw)}")
    ys, xs = tile_starts(h, th, th - overlap), tile_starts(w, tw, tw - overlap)
    # the blend ramps span what neighbours really share (the last step may be shorter)
    ramp_y = th - min((b - a for a, b in zip(ys, ys[1:])), default=th)
    ramp_x = tw - min((b - a for a, b in zip(xs, xs[1:])), default=tw)
    weight = blend_window(th, ramp_y)[:, None] * blend_window(tw, ramp_x)[None, :]
    out = weights = None
    for i, (y, x) in enumerate((y, x) for y in ys for x in xs):
        piece = translate_whole(G, chw[:, y:y + th, x:x + tw])
        if out is None:
            out = np.zeros((piece.shape[0], h, w), np.float32)
            weights = np.zeros((h, w), np.float32)
        out[:, y:y + th, x:x + tw] += piece * weight
        weights[y:y + th, x:x + tw] += weight
        if progress is not None:
            progress(i + 1, len(ys) * len(xs))
    out /= weights
    return out


def bytes_per_pixel(G) -> float | None:
    """Peak host bytes of one forward per input pixel, measured at a small valid size
    (None on a device backend, whose memory tracemalloc does not see)."""
    bk = backend.current()
    if bk.xp is not np:
        return None
    m = -(-PROBE_SIDE // G.size_multiple) * G.size_multiple   # a valid side >= PROBE_SIDE
    probe = np.zeros((G.input_nc, m, m), np.float32)
    tracemalloc.start()
    try:
        translate_whole(G, probe)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / (m * m)


class Translator:
    """Translates host (C, H, W) images of any size with one generator: fit, tiles, back.

    tile: None (automatic within memory_budget bytes) or a tile side; 0 never tiles."""

    def __init__(self, G, fit_mode="pad", tile=None, overlap=None, memory_budget=2 << 30):
        if fit_mode not in FIT_MODES:
            raise P2PError(f"--fit {fit_mode!r}: choose {', '.join(FIT_MODES)}")
        self.G, self.fit_mode, self.memory_budget = G, fit_mode, memory_budget
        self.multiple = G.size_multiple
        if tile and tile % self.multiple:
            raise P2PError(f"--tile {tile}: tiles must be a multiple of the generator's "
                           f"stride {self.multiple}")
        self.tile, self.overlap = tile, overlap
        self._bytes_per_pixel = "unmeasured"

    def tile_for(self, height: int, width: int) -> int:
        """The tile side for an image of this size, 0 for one forward over all of it."""
        if self.tile is not None:
            return self.tile if self.tile < max(height, width) else 0
        pixels = height * width
        if pixels * SURELY_FITS_BYTES_PER_PIXEL <= self.memory_budget:
            return 0
        if self._bytes_per_pixel == "unmeasured":
            self._bytes_per_pixel = bytes_per_pixel(self.G)
        per_pixel = self._bytes_per_pixel
        if per_pixel is None or pixels * per_pixel <= self.memory_budget:
            return 0
        # the largest stride multiple whose forward takes at most half the budget
        side = int((self.memory_budget / 2 / per_pixel) ** 0.5) // self.multiple
        return max(1, min(side, 1024 // self.multiple or 1)) * self.multiple

    def __call__(self, chw: np.ndarray, name="image", progress=None) -> np.ndarray:
        h, w = chw.shape[1:]
        m = self.multiple
        tile = self.tile_for(h, w)
        if tile:
            overlap = self.overlap if self.overlap is not None else tile // 4
            if self.fit_mode == "none":      # a side shorter than a tile: the largest window
                th, tw = largest_window(min(h, tile), min(w, tile), m, name)
                return translate_tiled(self.G, chw, (th, tw), min(overlap, min(th, tw) - 1),
                                       progress)
            # a side shorter than a tile is reflect-padded up to one, and cropped back
            ph, pw = max(0, tile - h), max(0, tile - w)
            padded = np.pad(chw, ((0, 0), (0, ph), (0, pw)), mode="reflect") if ph or pw \
                else chw
            return translate_tiled(self.G, padded, (tile, tile), overlap, progress)[:, :h, :w]
        if h % m == 0 and w % m == 0:
            return translate_whole(self.G, chw)
        if self.fit_mode == "none":
            window = largest_window(h, w, m, name)
            return translate_tiled(self.G, chw, window, 0, progress)
        fitted, undo = fit(chw, m, self.fit_mode, name)
        return undo(translate_whole(self.G, fitted))
