"""Adam (the learning-rate schedules are in p2p_cupy/schedules.py).

Adam (Kingma & Ba), in PyTorch's form, for each parameter p with gradient g at step t:

    m = b1 m + (1 - b1) g              v = b2 v + (1 - b2) g^2
    p -= lr * m_hat / (sqrt(v_hat) + eps)   with m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)

computed as PyTorch does, with the bias corrections folded into scalars:

    denom = sqrt(v) / sqrt(1 - b2^t) + eps;    p -= (lr / (1 - b1^t)) * m / denom

One optimizer's parameters, gradients and moments are four flat buffers (nn/flat.py: the
parameters become views into one of them), so a step is one pass over flat arrays: on
cuda and emu one launch of kernels/adam.cu's update, on NumPy a chunked loop with one
scratch chunk (no allocation). The step count, lr and the bias corrections live next to
them in `hyper` = [t, lr, step_size, inv_sqrt_bc2] (float64, on the device), advanced by
a kernel at each step: nothing in a step comes from the host, so a captured step replays
as is. `t` and `lr` on the Python side are the host's copies.
"""
from __future__ import annotations

import math

import numpy as np

from p2p_cupy import backend
from p2p_cupy.nn.flat import FlatParameters
from p2p_cupy.ops.launch import launch_1d, n_arg

CHUNK = 1 << 16    # elements per chunk of the NumPy update (a few 100 KB: fits in L2)
T, LR, STEP_SIZE, INV_SQRT_BC2 = range(4)      # the slots of Adam.hyper


class Adam:
    """Adam over a list of Parameters; `lr` may be changed between steps (the schedule)."""

    def __init__(self, params, lr=2e-4, betas=(0.5, 0.999), eps=1e-8):
        self.params = list(params)
        self.betas, self.eps = (float(betas[0]), float(betas[1])), float(eps)
        self.flat = FlatParameters(self.params)
        xp = backend.of(self.flat.data).xp   # the moments live where the parameters live
        self.m_flat = xp.zeros_like(self.flat.data)   # first moments
        self.v_flat = xp.zeros_like(self.flat.data)   # second moments
        self.m = [self.flat.view(self.m_flat, i) for i in range(len(self.params))]
        self.v = [self.flat.view(self.v_flat, i) for i in range(len(self.params))]
        self.hyper = xp.zeros(4, np.float64)
        self.t = 0                     # steps taken (PyTorch's state["step"]), host copy
        self.lr = lr
        self._scratch = xp.empty(min(CHUNK, self.flat.data.size), self.flat.dtype)

    @property
    def lr(self) -> float:
        """The learning rate of the next steps (host copy; setting it writes the device's)."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = float(value)
        self.hyper[LR:LR + 1] = self._lr

    def zero_grad(self):
        self.flat.zero_grad()

    def step(self):
        """One update of every parameter that has a gradient."""
        self.t += 1
        bk = backend.of(self.flat.data)
        all_grads = self.flat.sync()
        b1, b2 = self.betas
        if bk.uses_kernels:
            bk.kernel("adam", "adam_advance", np.float64)((1,), (1,), (
                self.hyper, np.float64(b1), np.float64(b2)))
        else:
            _advance(self.hyper, b1, b2)
        if all_grads:
            self._update(self.flat.data, self.flat.grad, self.m_flat, self.v_flat)
            return
        for p, m, v in zip(self.params, self.m, self.v):  # PyTorch skips grad None
            if p.grad is not None:
                self._update(p.data.reshape(-1), p.grad.reshape(-1), m.reshape(-1),
                             v.reshape(-1))

    def _update(self, p, g, m, v):
        """The update of flat arrays, in place: one kernel launch, or NumPy in chunks
        (~13 passes over each array: in chunks the scratch stays in the CPU cache and only
        p, g, m, v travel to memory, about 2x faster on 57 M parameters)."""
        bk = backend.of(self.flat.data)
        if bk.uses_kernels:
            launch_1d(bk.kernel("adam", "adam_fwd", p.dtype), p.size,
                      (p, g, m, v, n_arg(p.size))
                      + tuple(np.float64(s) for s in (*self.betas, self.eps)) + (self.hyper,))
            return
        step_size, inv_sqrt_bc2 = float(self.hyper[STEP_SIZE]), float(self.hyper[INV_SQRT_BC2])
        for start in range(0, p.size, CHUNK):
            chunk = [a[start:start + CHUNK] for a in (p, g, m, v)]
            self._update_chunk(*chunk, self._scratch[:chunk[0].size], step_size, inv_sqrt_bc2)

    def _update_chunk(self, p, g, m, v, tmp, step_size, inv_sqrt_bc2):
        """The NumPy Adam update of one chunk, in place; tmp is scratch."""
        b1, b2 = self.betas
        m *= b1                                  # m = b1 m + (1 - b1) g
        m += np.multiply(g, 1.0 - b1, out=tmp)
        v *= b2                                  # v = b2 v + (1 - b2) g^2
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v += tmp
        np.sqrt(v, out=tmp)                      # denom = sqrt(v) / sqrt(bc2) + eps
        tmp *= inv_sqrt_bc2
        tmp += self.eps
        np.divide(m, tmp, out=tmp)               # p -= (lr / bc1) * m / denom
        tmp *= step_size
        p -= tmp

    # --- checkpoints ---------------------------------------------------------------
    def state_dict(self) -> dict:
        """A flat dict of host numpy arrays (np.savez-friendly): hyper-parameters, step
        count, and m.<i>, v.<i> for the i-th parameter. t and lr are the device's."""
        bk = backend.of(self.flat.data)
        hyper = bk.to_numpy(self.hyper)
        state = {"step": np.array(int(hyper[T]), np.int64), "lr": np.array(hyper[LR]),
                 "beta1": np.array(self.betas[0]), "beta2": np.array(self.betas[1]),
                 "eps": np.array(self.eps)}
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            state[f"m.{i}"] = backend.of(m).to_numpy(m).copy()
            state[f"v.{i}"] = backend.of(v).to_numpy(v).copy()
        return state

    def load_state_dict(self, state):
        """Restore what state_dict wrote, into the same buffers (a captured step stays
        valid); the parameter list must have the same shapes."""
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
                moments[i][...] = backend.of(moments[i]).asarray(
                    np.array(saved, dtype=p.data.dtype))
        self.t = int(state["step"])
        self.hyper[T:T + 1] = float(self.t)
        self.lr, self.eps = float(state["lr"]), float(state["eps"])
        self.betas = (float(state["beta1"]), float(state["beta2"]))
        return self


def _advance(hyper, b1, b2):
    """adam.cu's adam_advance on the host (NumPy): count the step, refresh the bias
    corrections (float64, the same operations as the kernel)."""
    t = hyper[T] + 1.0
    hyper[T] = t
    hyper[STEP_SIZE] = hyper[LR] / (1.0 - b1 ** t)
    hyper[INV_SQRT_BC2] = 1.0 / math.sqrt(1.0 - b2 ** t)

