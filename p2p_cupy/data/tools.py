"""Dataset tools (`p2p data ...`): turn folders of images into pix2pix AB pairs.

  combine A_DIR B_DIR OUT   A and B images with the same file name -> one AB image each
  edges SRC OUT             edges -> photo (edge map by our own NumPy detector, see edges.py)
  colorize SRC OUT          grayscale -> color
  blank SRC OUT             inpainting: photo with a blanked rectangle -> photo
  split SRC OUT             shuffle files into OUT/{train,val[,test]}

Pairs are written as PNG (lossless) named after their source; sources that share a name
(a.png, a.jpg) get distinct names, and no output may land on a source or in the source
folder (p2p_cupy/output_paths.py). combine checks every pair
before writing anything: a mismatch is an error naming the file, never a silent skip. The
one-input tools skip an unreadable photo with a warning (counted in the returned summary).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from p2p_cupy.data.aligned import check_ab_pair, warn_skipped
from p2p_cupy.data.edges import edge_map
from p2p_cupy.data.images import ImageReadError, list_images, read_image
from p2p_cupy.output_paths import plan_outputs
from p2p_cupy.safe_files import write_png_atomically

PHASES = ("train", "val", "test")


def _side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    ab = Image.new("RGB", (a.width + b.width, a.height))
    ab.paste(a.convert("RGB"), (0, 0))
    ab.paste(b.convert("RGB"), (a.width, 0))
    return ab


def _combine_folder(a_dir: Path, b_dir: Path, out: Path) -> int:
    pairs = []
    for path_a in list_images(a_dir):
        pairs.append((path_a, check_ab_pair(path_a, b_dir)[0]))
    if not pairs:
        raise ValueError(f"{a_dir}: no images")
    targets = plan_outputs([a for a, _ in pairs], out, other_inputs=[b for _, b in pairs],
                           away_from_inputs=True)
    out.mkdir(parents=True, exist_ok=True)
    for (path_a, path_b), (target,) in zip(pairs, targets):
        write_png_atomically(target, _side_by_side(read_image(path_a), read_image(path_b)))
    return len(pairs)


def combine(a_dir, b_dir, out) -> int:
    """AB images from A_DIR and B_DIR (per phase if they hold train/val/test folders)."""
    a_dir, b_dir, out = Path(a_dir), Path(b_dir), Path(out)
    phases = [p for p in PHASES if (a_dir / p).is_dir()]
    if not phases:
        return _combine_folder(a_dir, b_dir, out)
    return sum(_combine_folder(a_dir / p, b_dir / p, out / p) for p in phases)


def _pairs_from_photos(src, out, make_a) -> dict:
    """Write make_a(photo, index) | photo for every readable photo of src."""
    out = Path(out)
    files = list_images(src)
    if not files:
        raise ValueError(f"{src}: no images")
    targets = plan_outputs(files, out, away_from_inputs=True)
    out.mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    for i, (path, (target,)) in enumerate(zip(files, targets)):
        try:
            photo = read_image(path)
        except ImageReadError as e:
            warn_skipped(str(e))
            skipped += 1
            continue
        write_png_atomically(target, _side_by_side(make_a(photo, i), photo))
        written += 1
    return {"written": written, "skipped": skipped}


def edges(src, out) -> dict:
    """Edges -> photo pairs: A is black edges on white (the edges2shoes look)."""
    def sketch(photo, _):
        lines = edge_map(np.asarray(photo.convert("L"), dtype=np.float32))
        return Image.fromarray(np.where(lines, 0, 255).astype(np.uint8))
    return _pairs_from_photos(src, out, sketch)


def colorize(src, out) -> dict:
    """Grayscale -> color pairs (A is the luminance, stored as RGB; --input-nc 1 reads it
    back as one channel)."""
    return _pairs_from_photos(src, out, lambda photo, _: photo.convert("L"))


def blank(src, out, seed: int = 0) -> dict:
    """Inpainting pairs: A is the photo with a gray rectangle (a quarter to a half of each
    side, seeded per file) where B has the picture."""
    def blanked(photo, i):
        rng = np.random.default_rng([seed, i])
        w, h = photo.size
        bw, bh = (int(rng.uniform(0.25, 0.5) * s) for s in (w, h))
        x, y = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
        a = photo.copy()
        a.paste((127, 127, 127), (x, y, x + bw, y + bh))
        return a
    return _pairs_from_photos(src, out, blanked)


def split(src, out, val_fraction: float = 0.2, test_fraction: float = 0.0,
          seed: int = 0) -> dict:
    """Copy the images of src into out/train, out/val and (if test_fraction) out/test."""
    if not (0 <= val_fraction and 0 <= test_fraction and val_fraction + test_fraction < 1):
        raise ValueError(f"split: fractions must be >= 0 and sum to < 1, got val "
                         f"{val_fraction}, test {test_fraction}")
    files = list_images(src)
    if not files:
        raise ValueError(f"{src}: no images")
    for phase in ("train", "val", "test"):      # every file might land in any phase
        plan_outputs(files, Path(out) / phase, ("{name}",), away_from_inputs=True)
    order = np.random.default_rng(seed).permutation(len(files))
    n_val, n_test = round(val_fraction * len(files)), round(test_fraction * len(files))
    groups = {"train": order[n_val + n_test:], "val": order[:n_val],
              "test": order[n_val:n_val + n_test]}
    counts = {}
    for phase, idx in groups.items():
        if len(idx) == 0 and phase != "train":
            continue
        (Path(out) / phase).mkdir(parents=True, exist_ok=True)
        for i in sorted(idx):
            shutil.copy2(files[i], Path(out) / phase / files[i].name)
        counts[phase] = len(idx)
    return counts
