"""Measurements taken inside the networks while they run: activation statistics, per-layer
gradient norms, the discriminator's patch map and its accuracy on real and fake patches.

Everything is measured on the real model objects during ordinary forward passes (the
leaf-layer watcher of cost.py) or read from the gradients a training step left behind;
nothing here changes a model or runs an extra pass.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from p2p_cupy import backend, nn
from p2p_cupy.inspection.cost import watching_leaves

TANH_SATURATED = 0.99   # |tanh(x)| above this: the slope 1 - y^2 is below 0.02


@dataclass
class ActivationStats:
    """One leaf layer's output. zero_fraction: ReLU outputs that are exactly 0 (those
    units pass no gradient); saturated_fraction: tanh outputs with |y| > 0.99."""
    name: str
    op: str
    shape: tuple
    mean: float
    std: float
    zero_fraction: Optional[float] = None
    saturated_fraction: Optional[float] = None

    def as_dict(self):
        return asdict(self)


def activation_stats(name: str, layer, y) -> ActivationStats:
    """Statistics of the output y (a host array) of `layer`."""
    y = np.asarray(y, dtype=np.float64)
    stats = ActivationStats(name, type(layer).__name__, tuple(y.shape), float(y.mean()),
                            float(y.std()))
    if isinstance(layer, nn.ReLU):
        stats.zero_fraction = float(np.mean(y == 0))
    if isinstance(layer, nn.Tanh):
        stats.saturated_fraction = float(np.mean(np.abs(y) > TANH_SATURATED))
    return stats


def run_recording(model, x, keep=()):
    """(output, [ActivationStats per leaf, in execution order], {name: host output} for
    the leaf names in `keep`) of one forward pass of model on x."""
    bk = backend.of(x)
    unknown = sorted(set(keep) - set(leaf_names(model)))
    if unknown:
        raise ValueError(f"{type(model).__name__}: no layer named {', '.join(unknown)}; "
                         f"leaf layers are {', '.join(leaf_names(model))}")
    stats, kept = [], {}

    def record(name, layer, inp, out):
        host = bk.to_numpy(out)
        stats.append(activation_stats(name, layer, host))
        if name in keep:
            kept[name] = host

    with watching_leaves(model, record):
        y = model.forward(x)
    return y, stats, kept


def leaf_names(model) -> list:
    return [name for name, _ in model.named_leaves()]


def layer_grad_norms(model) -> list:
    """(layer name, op, ||grad||, ||weights||) of every leaf layer with parameters, from
    the gradients left by the last backward; norms are over all of a layer's parameters.
    The ratio grad/weights is what an update of size lr * grad does to the layer."""
    rows = []
    for name, layer in model.named_leaves():
        params = layer.parameters()
        if not params or any(p.grad is None for p in params):
            continue
        bk = backend.of(params[0].data)
        xp = bk.xp
        sums = xp.stack([xp.sum(xp.square(p.grad)) for p in params]
                        + [xp.sum(xp.square(p.data)) for p in params])
        sums = bk.to_numpy(sums).astype(np.float64)
        half = len(params)
        rows.append((name, type(layer).__name__, float(np.sqrt(sums[:half].sum())),
                     float(np.sqrt(sums[half:].sum()))))
    return rows


def patch_probability(logits, gan_mode: str = "vanilla") -> np.ndarray:
    """D's belief that each patch is real, in [0, 1], as a host (N, h, w) array:
    sigmoid(logit) for the BCE (vanilla) loss; for lsgan D regresses 1 (real) / 0 (fake)
    directly, so its output is clipped to [0, 1]."""
    z = np.asarray(backend.of(logits).to_numpy(logits), dtype=np.float64)[:, 0]
    if gan_mode == "lsgan":
        return np.clip(z, 0.0, 1.0)
    return 0.5 * (1.0 + np.tanh(0.5 * z))        # sigmoid, without overflow for large |z|


def patch_accuracy(prob_real_on_real, prob_real_on_fake) -> dict:
    """Fraction of patches D classifies correctly: real ones above 0.5, fake ones below."""
    return {"D_acc_real": float(np.mean(np.asarray(prob_real_on_real) > 0.5)),
            "D_acc_fake": float(np.mean(np.asarray(prob_real_on_fake) < 0.5))}
