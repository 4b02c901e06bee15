"""pix2pix preprocessing with the reference implementation's semantics.

Modes (`--preprocess`):
  resize_and_crop       resize to load_size x load_size (bicubic), random crop_size crop
  crop                  random crop_size crop of the image as it is
  scale_width           width to load_size, height in proportion (at least crop_size)
  scale_width_and_crop  scale_width, then a random crop_size crop
  none                  the image as it is, each side rounded to a multiple of 4
then a random horizontal flip unless no_flip. A and B of a pair get the *same* parameters
(crop offset and flip): they must stay aligned pixel for pixel.

The random parameters come from get_params(opts, size, rng), drawn from a numpy Generator,
so whoever owns the Generator owns the reproducibility (the loader seeds one per sample).
"""
from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
SIZE_MULTIPLE = 4        # the reference's __make_power_2 base for --preprocess none


@dataclass(frozen=True)
class Preprocess:
    mode: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    no_flip: bool = False

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"preprocess: unknown mode {self.mode!r}; expected one of {MODES}")
        if self.load_size < 1 or self.crop_size < 1:
            raise ValueError(f"preprocess: sizes must be positive, got load_size "
                             f"{self.load_size}, crop_size {self.crop_size}")
        if "crop" in self.mode and "resize" in self.mode and self.load_size < self.crop_size:
            raise ValueError(f"preprocess {self.mode}: load_size {self.load_size} is smaller "
                             f"than crop_size {self.crop_size}")

    @classmethod
    def from_options(cls, opts) -> "Preprocess":
        """From any options object with preprocess, load_size, crop_size, no_flip."""
        return cls(opts.preprocess, opts.load_size, opts.crop_size, opts.no_flip)

    def for_testing(self) -> "Preprocess":
        """The reference's test-time setting: load_size = crop_size, no flip, so resizing
        lands on the crop size and every crop offset is 0 (no jitter)."""
        return Preprocess(self.mode, self.crop_size, self.crop_size, True)


@dataclass(frozen=True)
class Params:
    crop_x: int = 0
    crop_y: int = 0
    flip: bool = False


def _scaled_height(width: int, height: int, p: Preprocess) -> int:
    """The reference's __scale_width height: in proportion, never below crop_size."""
    if width == p.load_size and height >= p.crop_size:
        return height
    return int(max(p.load_size * height / width, p.crop_size))


def resized_size(size: tuple, p: Preprocess) -> tuple:
    """(width, height) after the resize step, before cropping."""
    w, h = size
    if "resize" in p.mode:
        return p.load_size, p.load_size
    if "scale_width" in p.mode:
        return p.load_size, _scaled_height(w, h, p)
    if p.mode == "none":
        return (max(SIZE_MULTIPLE, round(w / SIZE_MULTIPLE) * SIZE_MULTIPLE),
                max(SIZE_MULTIPLE, round(h / SIZE_MULTIPLE) * SIZE_MULTIPLE))
    return w, h


def check_size(size: tuple, p: Preprocess, path) -> None:
    """ValueError naming path if an image of this size cannot give a crop_size crop."""
    w, h = resized_size(size, p)
    if "crop" in p.mode and (w < p.crop_size or h < p.crop_size):
        raise ValueError(f"{path}: image {size[0]}x{size[1]} is smaller than the crop "
                         f"{p.crop_size}x{p.crop_size} (preprocess {p.mode})")


def get_params(p: Preprocess, size: tuple, rng) -> Params:
    """Crop offset (uniform over every valid position) and flip (probability 1/2)."""
    w, h = resized_size(size, p)
    x = y = 0
    if "crop" in p.mode:
        x = int(rng.integers(0, max(0, w - p.crop_size) + 1))
        y = int(rng.integers(0, max(0, h - p.crop_size) + 1))
    flip = (not p.no_flip) and bool(rng.random() > 0.5)
    return Params(x, y, flip)


def apply(img: Image.Image, p: Preprocess, params: Params) -> Image.Image:
    """Resize (bicubic, as the reference), crop at params' offset, flip if params say so."""
    target = resized_size(img.size, p)
    if target != img.size:
        img = img.resize(target, Image.BICUBIC)
    if "crop" in p.mode:
        img = img.crop((params.crop_x, params.crop_y,
                        params.crop_x + p.crop_size, params.crop_y + p.crop_size))
    if params.flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return img
