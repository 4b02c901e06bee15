"""Gradient checks: hand-written backward passes against central finite differences.

A Problem is what gets differentiated: named arrays (inputs and parameters, perturbed in
place), a forward that reads them and a backward that returns their gradients. With a
random output gradient gy, the scalar checked is f(arrays) = <gy, forward()>, whose exact
gradient is what backward(gy) returns. Two checks, both central differences:

    element by element   (f(a + h e_i) - f(a - h e_i)) / 2h  vs  grad[i], every element i
    one direction        (f(a + h r) - f(a - h r)) / 2h      vs  sum_k <grad_k, r_k>,
                         r random over all arrays at once (Chainer's check_backward):
                         two forwards whatever the size, so it scales to whole networks

Relative error, robust near zero: |numeric - analytic| / max(|numeric|, |analytic|, floor),
the max over elements. f is summed on the host in float64.

Before every forward a module's buffers are restored (BatchNorm running statistics,
Dropout's step counter), so each evaluation sees the same state: dropout keeps one mask.
Ops with kinks (ReLU, leaky ReLU, L1) need inputs a few h away from the kink: the cases
(cases.py) build them so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from p2p_cupy import backend


@dataclass(frozen=True)
class Tolerance:
    """Step h, floor of the relative error's denominator, and the largest error accepted."""
    h: float
    floor: float
    max_error: float


# The numeric derivative errs by about h^2 f'''/6 (truncation) + eps |f| / h (rounding of
# f); h balances the two. The floor keeps gradients near zero from turning rounding noise
# into a large relative error. float64 is what gradient checks are for; float32 is a
# coarse smoke test.
TOLERANCES = {np.dtype(np.float64): Tolerance(h=1e-5, floor=1e-4, max_error=1e-4),
              np.dtype(np.float32): Tolerance(h=1e-2, floor=1e-2, max_error=5e-2)}

ELEMENTWISE_LIMIT = 2000   # arrays up to this size are checked element by element too


@dataclass(frozen=True)
class CheckResult:
    """One row of a report."""
    name: str
    what: str
    max_rel_error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return bool(self.max_rel_error <= self.tolerance)   # NaN fails


class Problem:
    """arrays: name -> backend array, perturbed in place; forward() -> output array;
    backward(gy) -> {name: gradient} for every name of `arrays`."""

    def __init__(self, arrays: dict, forward, backward):
        self.arrays, self.forward, self.backward = dict(arrays), forward, backward


def module_problem(module, x) -> Problem:
    """The input gradient and every parameter gradient of `module` at input x."""
    saved = [(mod, short, b.copy()) for _, mod, short, b in module.named_buffers()]

    def forward():
        for mod, short, b in saved:       # the same running stats / dropout step every time
            mod.set_buffer(short, b.copy())
        return module.forward(x)

    def backward(gy):
        module.zero_grad()
        forward()
        grads = {"x": module.backward(gy)}
        grads.update((name, p.grad) for name, p in module.named_parameters())
        return grads

    arrays = {"x": x, **{name: p.data for name, p in module.named_parameters()}}
    return Problem(arrays, forward, backward)


def function_problem(inputs: dict, forward, backward) -> Problem:
    """A functional op: forward(*inputs) -> (out, cache); backward(dout, cache) -> the
    gradients of the inputs, in order (one array, or a tuple)."""
    state = {}

    def run_forward():
        out, state["cache"] = forward(*inputs.values())
        return out

    def run_backward(gy):
        run_forward()
        grads = backward(gy, state["cache"])
        grads = grads if isinstance(grads, (tuple, list)) else (grads,)
        return dict(zip(inputs, grads, strict=True))

    return Problem(inputs, run_forward, run_backward)


def check_problem(name: str, problem: Problem, rng, directions: int = 3,
                  elementwise_limit: int = ELEMENTWISE_LIMIT) -> list:
    """CheckResults: one per array small enough to check element by element, then one
    for `directions` random directions over all arrays together."""
    bk = backend.current()
    tol = TOLERANCES[np.dtype(next(iter(problem.arrays.values())).dtype)]
    out = problem.forward()
    gy_host = rng.standard_normal(out.shape)
    grads = {k: _host64(bk, g)
             for k, g in problem.backward(bk.asarray(gy_host, dtype=out.dtype)).items()}

    def f():
        """The checked scalar <gy, forward()>, summed on the host in float64."""
        return float(np.sum(gy_host * _host64(bk, problem.forward())))

    def row(what, numeric, analytic):
        numeric, analytic = np.asarray(numeric), np.asarray(analytic)
        scale = np.maximum(np.maximum(np.abs(numeric), np.abs(analytic)), tol.floor)
        return CheckResult(name, what, float(np.max(np.abs(numeric - analytic) / scale)),
                           tol.max_error)

    rows = [row(f"d{k} element by element ({a.size})", numeric_gradient(f, a, tol.h), grads[k])
            for k, a in problem.arrays.items() if a.size <= elementwise_limit]
    numeric, analytic = [], []
    for _ in range(directions):
        r = {k: rng.standard_normal(a.shape) for k, a in problem.arrays.items()}
        numeric.append(_along(f, bk, problem.arrays, r, tol.h))
        analytic.append(sum(float(np.sum(grads[k] * r[k])) for k in problem.arrays))
    rows.append(row(f"all arrays ({len(problem.arrays)}), {directions} random directions",
                    numeric, analytic))
    return rows


def numeric_gradient(f, a, h=1e-6):
    """df/da[i] = (f(a + h e_i) - f(a - h e_i)) / 2h for every element i (a restored)."""
    numeric = np.empty(a.shape)
    for idx in np.ndindex(*a.shape):
        original = a[idx].copy()
        a[idx] = original + h
        x_plus, f_plus = float(a[idx]), f()
        a[idx] = original - h
        x_minus, f_minus = float(a[idx]), f()
        a[idx] = original
        # divide by the step actually taken (x +- h rounds in float32)
        numeric[idx] = (f_plus - f_minus) / (x_plus - x_minus)
    return numeric


def _along(f, bk, arrays, r, h):
    """The derivative of f along r: (f(a + h r) - f(a - h r)) / 2h, all arrays at once."""
    originals = {k: a.copy() for k, a in arrays.items()}
    f_at = {}
    for sign in (1.0, -1.0):
        for k, a in arrays.items():
            a[...] = originals[k] + bk.asarray(sign * h * r[k], dtype=a.dtype)
        f_at[sign] = f()
    for k, a in arrays.items():
        a[...] = originals[k]
    return (f_at[1.0] - f_at[-1.0]) / (2 * h)


def _host64(bk, a):
    return np.asarray(bk.to_numpy(a), dtype=np.float64)
