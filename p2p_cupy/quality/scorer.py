"""The FCN scorer: a segmenter of synthetic facades, trained with our own framework.

pix2pix's FCN-score asks a segmentation network trained on *real* photos to label the
generated ones (p2p_cupy/quality/scores.py). Ours is a small U-Net (the generator's code
with `output_tanh=False`: one logit per class and pixel, no dropout) trained with softmax
cross-entropy and Adam on the real renderings of the train split, at the size the
generated photos have, but at most 64 px: larger photos (and their label maps) are
scaled down to 64 px before scoring (box filter), so one scorer per data set version
serves runs of every size above it and its training stays a few minutes on a CPU. It is
trained once per (data set version, size) and cached like the data set itself:
CACHE/p2p_cupy/fcn-scorer-<version>-<size>.npz, with a record of how it was trained and
its own scores on the real test renderings (the "ground truth" row of a quality table:
what a perfect generator would score).
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np
from PIL import Image

from p2p_cupy import backend
from p2p_cupy.data import synthetic
from p2p_cupy.models.unet import UNetGenerator
from p2p_cupy.ops.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from p2p_cupy.optim import Adam
from p2p_cupy.quality.scores import confusion, fcn_scores
from p2p_cupy.train import checkpoint
from p2p_cupy.train.build import cache_root, resolve_dataroot

N_CLASSES = len(synthetic.CLASSES)
# Sized to train in minutes on a 2-core CPU (64 px: 3 x 50 steps of 8 images).
EPOCHS, BATCH_SIZE, LR, NGF = 3, 8, 1e-3, 8
MAX_SIZE = 64


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


def build_segmenter(size: int, ngf: int = NGF, seed: int = 0) -> UNetGenerator:
    return UNetGenerator(3, N_CLASSES, num_downs(size), ngf, "batch", use_dropout=False,
                         seed=seed, output_tanh=False)


def labels_of(label_chw) -> np.ndarray:
    """Class indices (H, W) of a label map as the data pipeline gives it ((3, H, W) in [-1, 1])."""
    rgb = np.clip(np.rint((np.asarray(label_chw) + 1) * 127.5), 0, 255).astype(np.uint8)
    return synthetic.labels_from_colors(rgb.transpose(1, 2, 0))


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


def train_scorer(version: str, size: int, epochs: int = EPOCHS, n_train=None, seed: int = 0,
                 ngf: int = NGF, out=None) -> Scorer:
    """Train on the real train renderings (random horizontal flips), score on the real test
    renderings; progress, one line per epoch, goes to `out`."""
    out = out or sys.stderr
    started = time.perf_counter()
    photos, labels = real_pairs(version, size, "train", n_train)
    bk = backend.current()
    model = build_segmenter(size, ngf, seed)
    opt = Adam(model.parameters(), lr=LR, betas=(0.9, 0.999))
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        order, losses = rng.permutation(len(photos)), []
        for i in range(0, len(order), BATCH_SIZE):
            batch = order[i:i + BATCH_SIZE]
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
        print(f"fcn scorer {version} {size}px: epoch {epoch}/{epochs}, cross-entropy "
              f"{mean_loss:.3f}", file=out, flush=True)
    scorer = Scorer(model, {"version": version, "size": size, "epochs": epochs,
                            "train_pairs": len(photos), "seed": seed, "ngf": ngf,
                            "train_seconds": round(time.perf_counter() - started, 1)})
    test_photos, test_labels = real_pairs(version, size, "test")
    scorer.record["real_test"] = fcn_scores(scorer.confusion(test_photos, test_labels))
    return scorer


def scorer_path(version: str, size: int):
    return cache_root() / f"fcn-scorer-{version}-{size}.npz"


def load_or_train_scorer(version: str, size: int, out=None, **training) -> Scorer:
    """The cached scorer of (version, size), trained and cached first if there is none
    (`training`: train_scorer's epochs, n_train, seed, ngf)."""
    out = out or sys.stderr
    path = scorer_path(version, size)
    if path.exists():
        state = checkpoint.load_checkpoint(path)
        model = build_segmenter(size, state["record"]["ngf"], state["record"]["seed"])
        model.load_state_dict(state["model"])
        return Scorer(model, state["record"])
    print(f"training the FCN scorer for synthetic facades {version} at {size}px once "
          f"(cached in {path})", file=out, flush=True)
    scorer = train_scorer(version, size, out=out, **training)
    checkpoint.save_checkpoint(path.parent, path.stem, {
        "model": dict(scorer.model.state_dict()), "record": scorer.record})
    return scorer
