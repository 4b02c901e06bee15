"""Data parallelism for one network: the same parameters on every rank, gradients averaged.

Each rank runs forward and backward on its share of the global batch, then

    grad <- (1/N) sum over ranks of grad         (one all-reduce of a flat buffer)

before the optimizer step. Every loss is a mean over the rank's samples and every rank has
the same number of samples, so the average is the gradient of the loss over the global
batch: the same update a single process would make on all N x batch-size samples.
Averaged gradients are bit-identical on every rank and the optimizer is deterministic, so
the parameters stay bit-identical; `check_in_sync` verifies that from time to time.

The gradients are all-reduced as one flat buffer per network (one all-reduce instead of
one per parameter: 100+ small messages would each pay the network's latency). That buffer
is the optimizer's own flat gradient buffer (nn/flat.py: every .grad is a view into it),
so nothing is copied; only when some parameter has no gradient (a frozen part) are the
gradients that exist copied into a buffer of their own and back.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend
from p2p_cupy.parallel.comm import ParallelError


class GradientAverager:
    """Averages the gradients of `params` over the ranks of `world` (via `reducer`).
    `flat`: the optimizer's FlatParameters over the same params, in the same order, whose
    gradient buffer is then all-reduced in place."""

    def __init__(self, params, world, reducer, flat=None):
        self.params, self.world, self.reducer = list(params), world, reducer
        if flat is not None and [id(p) for p in flat.params] != [id(p) for p in self.params]:
            raise ValueError("GradientAverager: the flat buffer holds other parameters")
        self.flat_params = flat
        self.copy = None              # the buffer of the copying path, made when first needed
        self.dtype = self.params[0].data.dtype if self.params else np.dtype(np.float32)
        self.nbytes = sum(p.data.size for p in self.params) * np.dtype(self.dtype).itemsize

    def average(self):
        """grad <- mean over ranks, for every parameter that has a gradient (the same set
        on every rank: the ranks run the same code on the same networks)."""
        if self.world.size == 1:
            return
        # sync() points every .grad back at its view; True when all have one
        if self.flat_params is not None and self.flat_params.sync():
            self._allreduce_mean(self.flat_params.grad)
            return
        with_grad = [p for p in self.params if p.grad is not None]
        if self.copy is None:
            self.copy = backend.current().xp.empty(self.nbytes // np.dtype(self.dtype).itemsize,
                                                   self.dtype)
        views, start = [], 0
        for p in with_grad:
            view = self.copy[start:start + p.grad.size]
            view[...] = p.grad.reshape(-1)
            views.append(view)
            start += p.grad.size
        self._allreduce_mean(self.copy[:start])
        for p, view in zip(with_grad, views):
            p.grad[...] = view.reshape(p.grad.shape)

    def _allreduce_mean(self, flat):
        self.reducer.allreduce_sum(flat)
        flat *= flat.dtype.type(1.0 / self.world.size)


def broadcast_parameters(net, world, reducer, root=0):
    """Every rank takes rank root's parameters and buffers (the start of a run, a resume)."""
    if world.size == 1:
        return
    for array in [p.data for p in net.parameters()] + [b for *_, b in net.named_buffers()]:
        reducer.broadcast(array, root)


def checksum(net) -> tuple:
    """(sum, sum of squares) of every parameter, in float64: changes with any bit of any
    parameter, in practice; the same on every rank while the ranks are in sync."""
    bk = backend.current()
    xp = bk.xp
    s = sq = 0.0
    for p in net.parameters():
        d = p.data.astype(np.float64)
        s += float(bk.to_numpy(xp.sum(d)))
        sq += float(bk.to_numpy(xp.sum(d * d)))
    return s, sq


def check_in_sync(nets: dict, world, step: int):
    """ParallelError on every rank (the same one) if any network's parameters differ
    between ranks; `nets` maps a name (G, D) to the network."""
    if world.size == 1:
        return
    mine = {name: checksum(net) for name, net in nets.items()}
    everyone = world.allgather(mine)
    for name in nets:
        values = [ranks[name] for ranks in everyone]
        if any(v != values[0] for v in values[1:]):
            differ = [r for r, v in enumerate(values) if v != values[0]]
            raise ParallelError(
                f"the parameters of {name} differ between ranks at step {step} (rank 0 vs "
                f"rank(s) {differ}: checksums {values[0]} vs {values[differ[0]]}); the ranks "
                f"no longer train the same model: stopping before it is saved")
