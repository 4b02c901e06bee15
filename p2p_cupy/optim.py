"""Adam (the learning-rate schedules are in p2p_cupy/schedules.py).

Adam (Kingma & Ba), in PyTorch's form, for each parameter p with gradient g at step t:

    m = b1 m + (1 - b1) g              v = b2 v + (1 - b2) g^2
    p -= lr * m_hat / (sqrt(v_hat) + eps)   with m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)

computed as PyTorch does, with the bias corrections folded into scalars:

    denom = sqrt(v) / sqrt(1 - b2^t) + eps;    p -= (lr / (1 - b1^t)) * m / denom

The update runs in place with one scratch array, so a step over the 57 M parameters of
pix2pix allocates nothing.
"""
from __future__ import annotations

import math

import numpy as np

from p2p_cupy import backend
from p2p_cupy.ops.launch import launch_1d, n_arg

CHUNK = 1 << 16    # elements per chunk of the NumPy update (a few 100 KB: fits in L2)


class Adam:
    """Adam over a list of Parameters; `lr` may be changed between steps (the schedule)."""

    def __init__(self, params, lr=2e-4, betas=(0.5, 0.999), eps=1e-8):
        self.params = list(params)
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.t = 0                     # number of steps taken (PyTorch's state["step"])
        # the moments live where their parameter lives
        self.m = [backend.of(p.data).xp.zeros_like(p.data) for p in self.params]
        self.v = [backend.of(p.data).xp.zeros_like(p.data) for p in self.params]
        self._scratch = {}             # (array module, dtype) -> flat reusable buffer

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()

    def step(self):
        """One update of every parameter that has a gradient."""
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1.0 - b1 ** self.t)
        inv_sqrt_bc2 = 1.0 / math.sqrt(1.0 - b2 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            bk = backend.of(p.data)
            arrays = (p.data, p.grad, m, v)
            contiguous = all(a.flags.c_contiguous for a in arrays)
            if bk.uses_kernels and contiguous:   # kernels/adam.cu: one pass over p, g, m, v
                launch_1d(bk.kernel("adam", "adam_fwd", p.data.dtype), p.data.size,
                          (p.data, p.grad, m, v, n_arg(p.data.size))
                          + tuple(np.float64(s) for s in (b1, b2, self.eps, step_size,
                                                           inv_sqrt_bc2)))
            elif bk.xp is np and contiguous:
                # ~13 passes over each array: in chunks, the scratch stays in the CPU cache
                # and only p, g, m, v travel to memory (about 2x faster on 57 M parameters)
                flat = [a.reshape(-1) for a in arrays]
                for start in range(0, p.data.size, CHUNK):
                    chunk = [a[start:start + CHUNK] for a in flat]
                    self._update(np, *chunk, self._buffer(np, chunk[0]), step_size,
                                 inv_sqrt_bc2)
            else:   # a strided array: whole arrays, one xp operation per pass
                self._update(bk.xp, *arrays, self._buffer(bk.xp, p.data), step_size,
                             inv_sqrt_bc2)

    def _update(self, xp, p, g, m, v, tmp, step_size, inv_sqrt_bc2):
        """The Adam update of one array (or chunk), in place; tmp is scratch."""
        b1, b2 = self.betas
        m *= b1                                  # m = b1 m + (1 - b1) g
        m += xp.multiply(g, 1.0 - b1, out=tmp)
        v *= b2                                  # v = b2 v + (1 - b2) g^2
        xp.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v += tmp
        xp.sqrt(v, out=tmp)                      # denom = sqrt(v) / sqrt(bc2) + eps
        tmp *= inv_sqrt_bc2
        tmp += self.eps
        xp.divide(m, tmp, out=tmp)               # p -= (lr / bc1) * m / denom
        tmp *= step_size
        p -= tmp

    def _buffer(self, xp, like):
        """A scratch array shaped like `like`, a view of one buffer per array module and dtype."""
        key = (xp.__name__, like.dtype)
        buf = self._scratch.get(key)
        if buf is None or buf.size < like.size:
            buf = self._scratch[key] = xp.empty(like.size, like.dtype)
        return buf[:like.size].reshape(like.shape)

    # --- checkpoints ---------------------------------------------------------------
    def state_dict(self) -> dict:
        """A flat dict of host numpy arrays (np.savez-friendly): hyper-parameters, step
        count, and m.<i>, v.<i> for the i-th parameter."""
        state = {"step": np.array(self.t, np.int64), "lr": np.array(self.lr),
                 "beta1": np.array(self.betas[0]), "beta2": np.array(self.betas[1]),
                 "eps": np.array(self.eps)}
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            state[f"m.{i}"] = backend.of(m).to_numpy(m).copy()
            state[f"v.{i}"] = backend.of(v).to_numpy(v).copy()
        return state

    def load_state_dict(self, state):
        """Restore what state_dict wrote; the parameter list must have the same shapes."""
        n_saved = sum(1 for k in state if k.startswith("m."))
        if n_saved != len(self.params):
            raise ValueError(f"Adam.load_state_dict: the state holds moments for {n_saved} "
                             f"parameters, this optimizer has {len(self.params)}")
        for i, p in enumerate(self.params):
            for name, moments in (("m", self.m), ("v", self.v)):
                saved = state[f"{name}.{i}"]
                if tuple(np.shape(saved)) != tuple(p.data.shape):
                    raise ValueError(f"Adam.load_state_dict: {name}.{i} has shape "
                                     f"{tuple(np.shape(saved))}, parameter {i} has shape "
                                     f"{tuple(p.data.shape)}")
                moments[i] = backend.of(p.data).asarray(np.array(saved, dtype=p.data.dtype))
        self.t = int(state["step"])
        self.lr, self.eps = float(state["lr"]), float(state["eps"])
        self.betas = (float(state["beta1"]), float(state["beta2"]))
        return self
