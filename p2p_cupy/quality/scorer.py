"""The FCN scorer: a segmenter of synthetic facades, trained with our own framework.

pix2pix's FCN-score asks a segmentation network trained on *real* photos to label the
generated ones (p2p_cupy/quality/scores.py). Ours is a small U-Net (the generator's code
with `output_tanh=False`: one logit per class and pixel, no dropout) trained with softmax
cross-entropy and Adam on the real renderings of the train split, at the size the
generated photos have, but at most 64 px: larger photos are scaled down to 64 px before
scoring (box filter; their label maps by nearest neighbour), so one scorer per data set
version serves runs of every size above it and its training stays a few minutes on a
CPU. (The price: a 128 px rendering scaled down is not quite a 64 px one; the scorer
labels 0.887 of the pixels of the real 64 px test renderings right, 0.86 of the 128 px
test crops scaled down, so the ground-truth row of a 128 px table is the latter.)

It is trained once per (data set version, size, recipe) and cached like the data set
itself: CACHE/p2p_cupy/fcn-scorer-<version>-<size>-<recipe tag>.npz, with a record of how
it was trained (checked on loading) and its own scores on the real test renderings.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time

import numpy as np
from PIL import Image

from p2p_cupy import backend
from p2p_cupy.data import synthetic
from p2p_cupy.errors import P2PError
from p2p_cupy.models.unet import UNetGenerator
from p2p_cupy.ops.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from p2p_cupy.optim import Adam
from p2p_cupy.quality.scores import confusion, fcn_scores
from p2p_cupy.train import checkpoint
from p2p_cupy.train.build import cache_root, resolve_dataroot

N_CLASSES = len(synthetic.CLASSES)
MAX_SIZE = 64


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a scorer is trained. Its tag is part of the cache file's name, so a scorer
    trained another way is never reused silently (and a cached file's record must match)."""
    epochs: int = 3
    batch_size: int = 8
    lr: float = 1e-3
    decay_from: float = 0.5      # the lr falls linearly to 0 over the epochs after this fraction
    ngf: int = 8
    seed: int = 0
    n_train: int | None = None   # the first N train pairs [all]

    def tag(self) -> str:
        pairs = "all" if self.n_train is None else self.n_train
        return (f"e{self.epochs}-b{self.batch_size}-lr{self.lr:g}-d{self.decay_from:g}"
                f"-ngf{self.ngf}-s{self.seed}-n{pairs}")

    def lr_at(self, epoch: int) -> float:
        """The learning rate of epoch (1-based): constant, then linearly down towards 0."""
        start = int(self.epochs * self.decay_from)
        if epoch <= start:
            return self.lr
        return self.lr * (self.epochs - epoch + 1) / (self.epochs - start + 1)


# Measured on the 2-core machine (per-pixel acc. / per-class acc. / class IoU on the 100
# real test renderings at 64 px, training time): the old 3 epochs of ngf 8 at a constant
# lr 1e-3: 0.789 / 0.378 / 0.315 in 17 s; 10 epochs of ngf 16, the lr falling over the last
# 5: 0.887 / 0.675 / 0.605 in 213 s (with another process on the cores).
RECIPE = Recipe(epochs=10, ngf=16)


def scorer_size(crop_size: int) -> int:
    """The side the scorer of a run with this crop size works at."""
    return min(MAX_SIZE, crop_size)


def resized(chw, size: int) -> np.ndarray:
    """A (C, H, W) float image scaled to size x size with a box filter (area average)."""
    chw = np.asarray(chw, np.float32)
    if chw.shape[1:] == (size, size):
        return chw
    return np.stack([np.asarray(Image.fromarray(c, mode="F").resize((size, size), Image.BOX))
                     for c in chw])


def num_downs(size: int) -> int:
    """Levels of the segmenter: down to 4x4 pixels at most, 5 levels at most (128 px: 5)."""
    return max(2, min(5, int(math.log2(size)) - 2))


def build_segmenter(size: int, ngf: int, seed: int = 0) -> UNetGenerator:
    return UNetGenerator(3, N_CLASSES, num_downs(size), ngf, "batch", use_dropout=False,
                         seed=seed, output_tanh=False)


def labels_of(label_chw, size: int = None) -> np.ndarray:
    """Class indices (size, size) of a label map as the data pipeline gives it ((3, H, W) in
    [-1, 1]): classified at full size, then scaled to `size` by nearest neighbour (a box
    filter would mix the colors of neighbouring classes into a third one)."""
    rgb = np.clip(np.rint((np.asarray(label_chw) + 1) * 127.5), 0, 255).astype(np.uint8)
    labels = synthetic.labels_from_colors(rgb.transpose(1, 2, 0))
    if size is None or labels.shape == (size, size):
        return labels
    return np.asarray(Image.fromarray(labels).resize((size, size), Image.NEAREST))


def real_pairs(version: str, size: int, phase: str, limit=None):
    """(photos (N, 3, size, size) float32 in [-1, 1], labels (N, size, size) uint8) of a
    phase of the built-in set, generated at `size` (the data set cache)."""
    from p2p_cupy.data import iter_test_pairs
    from p2p_cupy.train.options import TrainOptions
    root = resolve_dataroot(f"{synthetic.DATA_NAME}-{version}", size)
    opts = TrainOptions(load_size=size, crop_size=size, direction="AtoB")
    pairs = list(iter_test_pairs(root, phase, opts, limit))
    return (np.stack([b for _, _, b in pairs]).astype(np.float32),
            np.stack([labels_of(a) for _, a, _ in pairs]))


class Scorer:
    """A trained segmenter and the record of its training; `labels(photos)` -> classes."""

    def __init__(self, model, record: dict):
        self.model, self.record = model.eval(), record

    def labels(self, photos, batch_size: int = 16) -> np.ndarray:
        """Host (N, 3, H, W) photos in [-1, 1] -> host (N, H, W) predicted classes."""
        bk = backend.current()
        out = []
        for i in range(0, len(photos), batch_size):
            logits = self.model.forward(bk.asarray(np.asarray(photos[i:i + batch_size],
                                                              np.float32)))
            out.append(bk.to_numpy(logits.argmax(axis=1)))
        return np.concatenate(out)

    def confusion(self, photos, true_labels) -> np.ndarray:
        return confusion(true_labels, self.labels(photos), N_CLASSES)


def train_scorer(version: str, size: int, recipe: Recipe = None, out=None) -> Scorer:
    """Train on the real train renderings (random horizontal flips), score on the real test
    renderings; progress, one line per epoch, goes to `out`."""
    out, recipe = out or sys.stderr, recipe or RECIPE
    started = time.perf_counter()
    photos, labels = real_pairs(version, size, "train", recipe.n_train)
    bk = backend.current()
    model = build_segmenter(size, recipe.ngf, recipe.seed)
    opt = Adam(model.parameters(), lr=recipe.lr, betas=(0.9, 0.999))
    rng = np.random.default_rng(recipe.seed)
    for epoch in range(1, recipe.epochs + 1):
        opt.lr = recipe.lr_at(epoch)
        order, losses = rng.permutation(len(photos)), []
        for i in range(0, len(order), recipe.batch_size):
            batch = order[i:i + recipe.batch_size]
            flip = rng.random(len(batch)) < 0.5
            x = np.where(flip[:, None, None, None], photos[batch, :, :, ::-1], photos[batch])
            y = np.where(flip[:, None, None], labels[batch, :, ::-1], labels[batch])
            loss, cache = softmax_cross_entropy_forward(model.forward(bk.asarray(x)),
                                                        bk.asarray(y.astype(np.int32)))
            opt.zero_grad()
            model.backward_without_input_grad(softmax_cross_entropy_backward(cache))
            opt.step()
            losses.append(loss)
        mean_loss = float(bk.to_numpy(bk.xp.stack(losses)).mean())
        print(f"fcn scorer {version} {size}px: epoch {epoch}/{recipe.epochs}, lr "
              f"{opt.lr:.2g}, cross-entropy {mean_loss:.3f}, "
              f"{time.perf_counter() - started:.0f} s", file=out, flush=True)
    scorer = Scorer(model, {"version": version, "size": size, **dataclasses.asdict(recipe),
                            "recipe": recipe.tag(), "train_pairs": len(photos),
                            "train_seconds": round(time.perf_counter() - started, 1)})
    test_photos, test_labels = real_pairs(version, size, "test")
    scorer.record["real_test"] = fcn_scores(scorer.confusion(test_photos, test_labels))
    return scorer


def scorer_path(version: str, size: int, recipe: Recipe = None):
    return cache_root() / f"fcn-scorer-{version}-{size}-{(recipe or RECIPE).tag()}.npz"


def load_or_train_scorer(version: str, size: int, recipe: Recipe = None, out=None) -> Scorer:
    """The cached scorer of (version, size, recipe [RECIPE]), trained and cached first if
    there is none."""
    out, recipe = out or sys.stderr, recipe or RECIPE
    path = scorer_path(version, size, recipe)
    if path.exists():
        state = checkpoint.load_checkpoint(path)
        record = state["record"]
        if record.get("recipe") != recipe.tag() or record.get("size") != size:
            raise P2PError(f"{path}: an FCN scorer of another recipe or size "
                           f"({record.get('recipe')}, {record.get('size')} px) is cached "
                           f"under this recipe's name; delete the file to retrain it")
        model = build_segmenter(size, recipe.ngf, recipe.seed)
        model.load_state_dict(state["model"])
        return Scorer(model, record)
    print(f"training the FCN scorer for synthetic facades {version} at {size}px once "
          f"(recipe {recipe.tag()}; cached in {path})", file=out, flush=True)
    scorer = train_scorer(version, size, recipe, out=out)
    checkpoint.save_checkpoint(path.parent, path.stem, {
        "model": dict(scorer.model.state_dict()), "record": scorer.record})
    return scorer
