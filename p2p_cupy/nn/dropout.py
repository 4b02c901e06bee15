"""Dropout whose masks are a function of (seed, step, element index) (see p2p_cupy/philox.py).

`step` is a 0-d int64 buffer advanced by every training-mode forward: each step draws a new
mask, a checkpoint resumes the sequence exactly, and every backend draws the same masks.
Eval mode is the identity. `placement` = (offset, stride) says which samples of a larger
batch this module's batch holds (data parallelism: (rank, world size)), so each sample is
dropped out as it would be in the larger batch; (0, 1), the default, is the batch itself.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend
from p2p_cupy.nn.module import Module
from p2p_cupy.ops.dropout import dropout_backward, dropout_forward
from p2p_cupy.ops.launch import deliver_output


class Dropout(Module):
    def __init__(self, p=0.5, seed=0):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: expected 0 <= p < 1, got {p}")
        self.p, self.seed = p, int(seed)
        self.placement = (0, 1)
        self.set_buffer("step", backend.current().asarray(np.zeros((), np.int64)))
        self._cache = None

    def forward(self, x):
        return self.forward_into(x, None)

    def forward_into(self, x, out):
        if x.dtype not in (np.float32, np.float64):
            raise ValueError(f"{self!r}: expected float32 or float64 input, got {x.dtype}")
        if not self.training:
            self._cache = None               # identity: backward passes dy through
            return deliver_output(x, out)
        y, self._cache = dropout_forward(x, self.p, self.seed, self.step, self.placement, out)
        backend.current().add_into(self.step, 1)      # one launch, in place
        return y

    def backward(self, dy):
        return dy if self._cache is None else dropout_backward(dy, self._cache)

    def __repr__(self):
        return f"Dropout(p={self.p}, seed={self.seed})"
