"""The quality measures of pix2pix's paper, on host arrays.

FCN-score: a segmenter trained on real photos labels the generated photos; its labels are
compared with the label maps the photos were generated from. Over a whole test set, with
the confusion matrix M (M[i, j] = pixels of true class i labelled j):

    per-pixel accuracy   sum_i M[i, i] / sum M
    per-class accuracy   mean over classes present of M[i, i] / sum_j M[i, j]
    class IoU            mean over classes present of
                         M[i, i] / (sum_j M[i, j] + sum_j M[j, i] - M[i, i])

(as in the FCN paper's evaluation, which pix2pix's FCN-score uses). A class counts as
present when the true labels hold it.

Sharpness: the high-frequency energy of an image, mean (Laplacian of its luminance)^2 with
the 4-neighbour Laplacian; the ratio of the outputs' total to the real photos' total is 1
for outputs as sharp as the photos and well below 1 for blurry ones (what an L1 loss alone
gives where the label map leaves the colors open).
"""
from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114])


def confusion(true_labels, predicted, n_classes: int) -> np.ndarray:
    """n x n int64 counts, rows: true class, columns: predicted class."""
    t = np.asarray(true_labels, np.int64).ravel()
    p = np.asarray(predicted, np.int64).ravel()
    return np.bincount(t * n_classes + p, minlength=n_classes ** 2).reshape(
        n_classes, n_classes)


def fcn_scores(matrix) -> dict:
    """{'pixel_acc', 'class_acc', 'class_iou'} of a confusion matrix (see the module doc)."""
    m = np.asarray(matrix, np.float64)
    diag, true_total, pred_total = np.diag(m), m.sum(1), m.sum(0)
    present = true_total > 0
    return {"pixel_acc": float(diag.sum() / m.sum()),
            "class_acc": float(np.mean(diag[present] / true_total[present])),
            "class_iou": float(np.mean(diag[present] / (true_total + pred_total - diag)[present]))}


def high_frequency_energy(chw) -> float:
    """mean (4-neighbour Laplacian of the luminance)^2 of a (C, H, W) image in [-1, 1]."""
    img = np.asarray(chw, np.float64)
    y = np.tensordot(LUMA, img, axes=1) if img.shape[0] == 3 else img[0]
    lap = (y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:]) - 4 * y[1:-1, 1:-1]
    return float(np.mean(lap ** 2))
