"""The aligned (paired) data set of pix2pix.

Two layouts on disk:
  ROOT/PHASE/NAME.jpg            A and B side by side in one image, A on the left
  ROOT/A/PHASE/NAME, ROOT/B/PHASE/NAME   two folders, pairs matched by file name
`direction` BtoA swaps the roles; what this class returns is always (input, target) of the
generator, so `input_nc` is the channel count of the input and `output_nc` of the target.

Every file is checked when the data set is built, from its header only (fast even for
50,000 files): readable, even width (AB), same size (two folders), large enough for the
crop. A bad file is reported with a one-line warning, counted and skipped; only a folder
with no usable image at all is an error. Decoding errors that only show when the pixels are
read (a truncated file) surface from load() as ImageReadError; the loader skips those.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from p2p_cupy.data import transforms
from p2p_cupy.data.images import (CHANNEL_MODES, IMAGE_EXTENSIONS, ImageReadError, image_size,
                                  list_images, read_image, to_chw, with_channels)



def check_ab_pair(path_a: Path, b_dir: Path):
    """(path_b, size) of the B image named like path_a in b_dir; a one-line ValueError
    naming the file when it is missing or its size differs from A's."""
    path_b = b_dir / path_a.name
    if not path_b.is_file():
        raise ValueError(f"{path_a}: no B image with the same name in {b_dir}")
    size_a, size_b = image_size(path_a), image_size(path_b)
    if size_a != size_b:
        raise ValueError(f"{path_a}: A is {size_a[0]}x{size_a[1]} but B ({path_b}) is "
                         f"{size_b[0]}x{size_b[1]}; pairs must have the same size")
    return path_b, size_a


class BadImageWarning(UserWarning):
    """A file skipped because it cannot be used; the message names it and says why."""


def warn_skipped(message: str):
    warnings.warn(f"skipped {message}", BadImageWarning, stacklevel=3)


class AlignedDataset:
    def __init__(self, root, phase="train", direction="AtoB", preprocess=None, input_nc=3,
                 output_nc=3, max_dataset_size=None):
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be AtoB or BtoA, got {direction!r}")
        for name, nc in (("input_nc", input_nc), ("output_nc", output_nc)):
            if nc not in CHANNEL_MODES:
                raise ValueError(f"{name} must be 1, 3 or 4, got {nc}")
        self.root, self.phase, self.direction = Path(root), phase, direction
        self.preprocess = preprocess or transforms.Preprocess()
        self.input_nc, self.output_nc = input_nc, output_nc
        self.skipped = []                         # one message per skipped file
        self.pairs = self._find_pairs(max_dataset_size)   # [(name, A or AB path, B or None)]

    # --- discovery ------------------------------------------------------------------------
    def _find_pairs(self, max_dataset_size):
        two_folders = (self.root / "A").is_dir() and (self.root / "B").is_dir()
        folder = self.root / "A" / self.phase if two_folders else self.root / self.phase
        if not folder.is_dir():
            raise ValueError(f"{folder}: phase folder {self.phase!r} not found in {self.root}")
        files = list_images(folder)[:max_dataset_size]     # the first N, as the reference
        if not files:
            raise ValueError(f"{folder}: no images (files ending in "
                             f"{' '.join(IMAGE_EXTENSIONS)})")
        pairs = []
        for path in files:
            try:
                pairs.append(self._checked_pair(path, two_folders))
            except ValueError as e:
                self.skipped.append(str(e))
        if not pairs:
            raise ValueError(f"{folder}: none of its {len(files)} images is usable; the first: "
                             f"{self.skipped[0]}")
        for message in self.skipped:
            warn_skipped(message)
        return pairs

    def _checked_pair(self, path: Path, two_folders: bool):
        if two_folders:
            path_b, size_a = check_ab_pair(path, self.root / "B" / self.phase)
            transforms.check_size(size_a, self.preprocess, path)
            return path.stem, path, path_b
        w, h = image_size(path)
        if w % 2:
            raise ValueError(f"{path}: AB image width {w} is odd; expected A and B of equal "
                             f"width side by side")
        transforms.check_size((w // 2, h), self.preprocess, path)
        return path.stem, path, None

    # --- access ---------------------------------------------------------------------------
    def __len__(self):
        return len(self.pairs)

    def name(self, index: int) -> str:
        return self.pairs[index][0]

    def files(self) -> list:
        """Every file the data set reads: the A (or AB) file of each pair, then the B files."""
        return [a for _, a, _ in self.pairs] + [b for _, _, b in self.pairs if b is not None]

    def read_pair(self, index: int):
        """(A, B) as Pillow images, before preprocessing; ImageReadError if unreadable."""
        _, path, path_b = self.pairs[index]
        nc_a, nc_b = ((self.input_nc, self.output_nc) if self.direction == "AtoB"
                      else (self.output_nc, self.input_nc))
        if path_b is None:
            ab = read_image(path, 4 if 4 in (nc_a, nc_b) else 3)
            w, h = ab.size
            if w % 2:                              # the header lied about the width
                raise ImageReadError(f"{path}: AB image width {w} is odd")
            a, b = ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, w, h))
            return with_channels(a, nc_a), with_channels(b, nc_b)
        a, b = read_image(path, nc_a), read_image(path_b, nc_b)
        if a.size != b.size:
            raise ImageReadError(f"{path}: A is {a.size[0]}x{a.size[1]} but B is "
                                 f"{b.size[0]}x{b.size[1]}")
        return a, b

    def load(self, index: int, rng=None, params=None):
        """(input, target) as float32 C x H x W in [-1, 1], preprocessed with one set of
        parameters for both: given ones, or drawn from rng (centered, unflipped if none)."""
        a, b = self.read_pair(index)
        p = self.preprocess
        if params is None:
            params = (transforms.get_params(p, a.size, rng) if rng is not None
                      else _centered(p, a.size))
        a, b = transforms.apply(a, p, params), transforms.apply(b, p, params)
        if self.direction == "BtoA":
            a, b = b, a
        return to_chw(a), to_chw(b)


def _centered(p, size) -> transforms.Params:
    w, h = transforms.resized_size(size, p)
    if "crop" not in p.mode:
        return transforms.Params()
    return transforms.Params(max(0, w - p.crop_size) // 2, max(0, h - p.crop_size) // 2)
