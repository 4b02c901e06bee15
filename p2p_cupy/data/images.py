"""Reading images: any file Pillow opens becomes an RGB, one-channel or RGBA image, or a
clean ImageReadError naming the file and the problem. Nothing else escapes from a bad file.

Channels (--input-nc / --output-nc): 3 is RGB, 1 is grayscale ("L"), 4 is RGBA with the
alpha channel kept as a fourth input channel (a file without one gets alpha 255): the way
to give a model an RGB image plus a mask is a PNG whose alpha channel is the mask.

Mode conversions (what `convert("RGB")` alone gets wrong):
  16-bit integer grayscale ("I;16", "I") -> 8 bit by scaling the 16-bit range (65535 ->
  255), not by clipping at 255 as convert() does; float ("F") is taken as [0, 1];
  transparency (RGBA, LA, palette with a transparent index) is composited onto white,
  so transparent pixels do not reveal whatever color happens to be stored under them.

Size cap: an image file can declare any size in a few bytes (a 130-byte PNG declaring
26000x6800 16-bit pixels decodes to gigabytes). Every read checks the declared width x
height against max_pixels() from the header alone, before a pixel is decoded, and refuses
a larger image with an ImageReadError naming the file and the cap. The cap is 100 million
pixels (a 10000x10000 photo); the environment variable P2P_MAX_IMAGE_PIXELS changes it
for every command (0: no cap). It replaces Pillow's own decompression-bomb limit, which
would otherwise refuse images between its limit and ours with a traceback-style message.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from p2p_cupy.errors import P2PError

MAX_PIXELS_ENV = "P2P_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 100_000_000
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp")
Image.MAX_IMAGE_PIXELS = None     # our cap (max_pixels) is checked instead, on every read
# A file is an image or an ImageReadError: Pillow's remarks about damaged files it still
# reads ("Tag data larger than file") would only be noise on the user's terminal.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


class ImageReadError(P2PError, ValueError):
    """A file that is not a readable image; the message is one line naming it."""


def max_pixels() -> int | None:
    """The cap on declared width x height (None: no cap), from P2P_MAX_IMAGE_PIXELS."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        cap = int(text.replace("_", ""))
    except ValueError:
        raise P2PError(f"{MAX_PIXELS_ENV}={text!r}: expected a whole number of pixels "
                       f"(0: no cap)") from None
    if cap < 0:
        raise P2PError(f"{MAX_PIXELS_ENV}={text!r}: must be >= 0 (0: no cap)")
    return cap or None


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return text or type(error).__name__


def _open_checked(path) -> Image.Image:
    """Image.open (which reads the header only) with the declared size checked against
    the cap before anything is decoded."""
    img = Image.open(path)
    cap = max_pixels()
    width, height = img.size
    if cap is not None and width * height > cap:
        img.close()
        raise ImageReadError(f"{path}: declares {width}x{height} = {width * height:,} pixels, "
                             f"more than the cap of {cap:,} (set {MAX_PIXELS_ENV} to raise "
                             f"it, 0 for no cap)")
    return img


def list_images(folder) -> list:
    """The image files directly inside folder, sorted by name (the reference's order)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: folder not found")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _to_8bit_gray(img: Image.Image) -> Image.Image:
    values = np.asarray(img, dtype=np.float32)
    scale = 1.0 if img.mode == "F" else 65535.0       # Pillow opens 16-bit files as I or I;16
    return Image.fromarray(np.clip(np.rint(values / scale * 255), 0, 255).astype(np.uint8))


def _flatten(img: Image.Image) -> Image.Image:
    """An image in mode "RGB" or "L", transparency composited onto white."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _to_8bit_gray(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode in ("RGB", "L"):
        return img
    return img.convert("RGB")        # CMYK, YCbCr, LAB, HSV, 1 (bilevel)


CHANNEL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def with_channels(img: Image.Image, channels: int) -> Image.Image:
    """img as mode L (1), RGB (3) or RGBA (4): transparency is composited onto white for
    1 and 3 channels and kept as the fourth channel for 4."""
    if channels not in CHANNEL_MODES:
        raise ValueError(f"channels must be 1, 3 or 4, got {channels}")
    if channels == 4:
        gray16 = img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
        return (_to_8bit_gray(img) if gray16 else img).convert("RGBA")
    return _flatten(img).convert(CHANNEL_MODES[channels])


def read_image(path, channels: int = 3) -> Image.Image:
    """The fully decoded image at path as mode "RGB" (channels=3), "L" (1) or "RGBA" (4)."""
    if channels not in CHANNEL_MODES:
        raise ValueError(f"{path}: channels must be 1, 3 or 4, got {channels}")
    try:
        with _open_checked(path) as img:
            img.load()               # decode now: a truncated file fails here, not later
            flat = with_channels(img, channels)
            flat.load()
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError(f"{path}: not enough memory to decode this image") from None
    except Exception as e:           # Pillow raises a dozen types for bad bytes
        raise ImageReadError(f"{path}: unreadable image ({_reason(e)})") from None
    if flat.width == 0 or flat.height == 0:
        raise ImageReadError(f"{path}: empty image ({flat.width}x{flat.height})")
    return flat


def image_size(path) -> tuple:
    """(width, height) from the header only (fast: nothing is decoded); an image over the
    pixel cap is refused here already, so a data set scan reports it up front."""
    try:
        with _open_checked(path) as img:
            return img.size
    except ImageReadError:
        raise
    except Exception as e:
        raise ImageReadError(f"{path}: unreadable image ({_reason(e)})") from None


def to_chw(img: Image.Image) -> np.ndarray:
    """An 8-bit image as float32 C x H x W in [-1, 1] (the reference's ToTensor + Normalize)."""
    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    chw = np.ascontiguousarray(a.transpose(2, 0, 1))
    chw /= 127.5                    # in place: a big image is not copied twice more
    chw -= 1.0
    return chw

ROWS_AT_ONCE = 256       # to_uint8_image converts a big image in bands of this many rows


def to_uint8_image(chw) -> np.ndarray:
    """The inverse of to_chw, to look at: a (C, H, W) host array in [-1, 1] -> (H, W, 3)
    uint8 rounded to the nearest level; one channel is repeated, of 4 (RGBA, RGB + mask)
    the color ones are shown."""
    chw = np.asarray(chw)
    img = np.empty(chw.shape, np.uint8)
    for y in range(0, chw.shape[1], ROWS_AT_ONCE):   # float64 temporaries for a band only
        band = np.clip((chw[:, y:y + ROWS_AT_ONCE].astype(np.float64) + 1.0) * 127.5 + 0.5,
                       0, 255)
        img[:, y:y + ROWS_AT_ONCE] = band
    img = img.transpose(1, 2, 0)
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img[:, :, :3]
