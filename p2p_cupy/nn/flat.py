"""One flat buffer for the data and one for the gradients of a list of Parameters.

Each parameter's `data` and `grad` become views into the two buffers (in list order), so
a whole network's update is one pass over three or four flat arrays (one launch of
Adam's kernel), and its gradients are cleared by one fill. The views are what the rest of
the code sees: layers read `p.data` and accumulate into `p.grad` as before.

Something may still replace a parameter's array (Module.astype, to_backend, a test that
assigns `p.grad = ...`): `sync()` notices, copies the new values into the buffer and
points the parameter back at its view, or rebuilds the buffers when the dtype changed.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend


class FlatParameters:
    """data, grad: the flat buffers; spans[i] = (start, stop) of parameter i in them."""

    def __init__(self, params):
        self.params = list(params)
        dtypes = {np.dtype(p.data.dtype) for p in self.params}
        if len(dtypes) > 1:
            raise ValueError(f"FlatParameters: the parameters mix dtypes {sorted(map(str, dtypes))}"
                             "; cast the model (Module.astype) before building the optimizer")
        self.dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        sizes = [int(p.data.size) for p in self.params]
        ends = np.cumsum([0] + sizes)
        self.spans = list(zip(ends[:-1].tolist(), ends[1:].tolist()))
        # the buffers live where the parameters live
        xp = (backend.of(self.params[0].data) if self.params else backend.current()).xp
        self.data = xp.empty(int(ends[-1]), self.dtype)
        self.grad = xp.zeros(int(ends[-1]), self.dtype)
        self.data_views = [self.view(self.data, i) for i in range(len(self.params))]
        self.grad_views = [self.view(self.grad, i) for i in range(len(self.params))]
        for p, data, grad in zip(self.params, self.data_views, self.grad_views):
            data[...] = p.data
            if p.grad is not None:
                grad[...] = p.grad
            p.data, p.grad = data, grad

    def view(self, flat, i):
        """Parameter i's part of a flat buffer (data, grad, or a moment), in its shape."""
        start, stop = self.spans[i]
        return flat[start:stop].reshape(self.params[i].data.shape)

    def sync(self) -> bool:
        """Make every parameter's data and grad its views again; True when all have a
        gradient (None stays None: that parameter takes no step, see Adam.step)."""
        if any(np.dtype(p.data.dtype) != self.dtype for p in self.params):
            raise ValueError("FlatParameters: a parameter's dtype changed after the optimizer "
                             "was built; build a new optimizer")
        all_grads = True
        for p, data, grad in zip(self.params, self.data_views, self.grad_views):
            if p.data is not data:
                data[...] = p.data
                p.data = data
            if p.grad is None:
                all_grads = False
            elif p.grad is not grad:
                grad[...] = p.grad
                p.grad = grad
        return all_grads

    def zero_grad(self):
        """Every gradient zero, in one fill of the flat buffer."""
        backend.of(self.grad).fill(self.grad, 0)
        for p, grad in zip(self.params, self.grad_views):
            p.grad = grad
            p.zeroed = True
