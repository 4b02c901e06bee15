"""Every device launch of one training iteration, counted on the CPU.

On the GPU each of these is one launch (~40 us of host time each at batch 1, which is why
they are worth counting): one of our kernels, one cuBLAS GEMM, or one CuPy elementwise
kernel (an in-place `+=`, a fill, a copy, a reduction). The count is made by running the
ops' kernel branch on a recording backend:

  * our kernels are noted and not run (kernels.py's _RecordingKernels, on work.py's);
  * GEMMs go through Backend.gemm, which the recording backend notes (and does not
    compute: the arrays hold garbage, only shapes matter);
  * everything else an op does to a device array goes through NumPy on CountedArray, an
    ndarray subclass that notes each ufunc call (elementwise or reduction), fill and copy,
    and the `xp` module stand-in notes allocations and the copies it makes
    (ascontiguousarray of a strided view, stack).

The iteration counted is the second one: the first allocates what later ones reuse.
"""
from __future__ import annotations

import contextlib
from collections import Counter

import numpy as np

from p2p_cupy import backend

_counter = None       # the LaunchCounter being filled, while one is active


class LaunchCounter:
    """Launch and allocation counts by category; `breakdown` names the GPU launches."""

    CATEGORIES = ("ours", "gemm", "elementwise", "fill", "copy")

    def __init__(self):
        self.counts = Counter()
        self.by_name = Counter()      # e.g. "elementwise/add", "ours/conv/im2col_fwd_f32"
        self.allocations = 0

    def note(self, category, name):
        self.counts[category] += 1
        self.by_name[f"{category}/{name}"] += 1

    @property
    def total(self) -> int:
        return sum(self.counts[c] for c in self.CATEGORIES)

    def breakdown(self) -> dict:
        return {"launches_per_iteration": self.total,
                **{c: self.counts[c] for c in self.CATEGORIES},
                "allocations": self.allocations,
                "by_name": dict(sorted(self.by_name.items()))}


def _note(category, name):
    if _counter is not None:
        _counter.note(category, name)


def _allocated():
    if _counter is not None:
        _counter.allocations += 1


def _plain(a):
    return a.view(np.ndarray) if isinstance(a, CountedArray) else a


def _counted(a):
    return a.view(CountedArray) if type(a) is np.ndarray else a


class CountedArray(np.ndarray):
    """A NumPy array whose every device-kernel-like operation is noted (see the module doc)."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _note("gemm" if ufunc is np.matmul else "elementwise",
              ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}")
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        else:
            _allocated()
        result = getattr(ufunc, method)(*(_plain(i) for i in inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _counted(result) if isinstance(result, np.ndarray) else result

    def __setitem__(self, key, value):
        _note("fill" if np.ndim(value) == 0 else "copy", "setitem")
        super().__setitem__(key, _plain(value))

    def fill(self, value):
        _note("fill", "fill")
        super().fill(value)

    def copy(self, order="C"):
        _note("copy", "copy")
        _allocated()
        return super().copy(order)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        result = super().astype(dtype, order, casting, subok, copy)
        if not np.may_share_memory(result, self):
            _note("copy", "astype")
            _allocated()
        return result

    def reshape(self, *shape, **kwargs):
        result = super().reshape(*shape, **kwargs)
        if result.size and not np.may_share_memory(result, self):   # a strided source
            _note("copy", "reshape")
            _allocated()
        return result


_ALLOCATING = {"empty": None, "empty_like": None, "zeros": "zeros", "zeros_like": "zeros",
               "ones": "ones", "ones_like": "ones", "full": "full", "full_like": "full"}
_MAY_COPY = {"asarray", "ascontiguousarray", "array"}
_JOINING = {"stack", "concatenate"}


def _counting_function(name, fn):
    def call(*args, **kwargs):
        result = fn(*(_plain(a) for a in args), **kwargs)
        if name in _ALLOCATING:
            _allocated()
            if _ALLOCATING[name] is not None:
                _note("fill", _ALLOCATING[name])
        elif name in _MAY_COPY:
            source = args[0] if args else None
            if isinstance(source, np.ndarray) and not np.may_share_memory(result, source):
                _note("copy", name)
                _allocated()
        elif name in _JOINING:
            _note("copy", name)
            _allocated()
        return _counted(result) if isinstance(result, np.ndarray) else result
    return call


class _CountingNumpy:
    """Stands in for the `xp` module: NumPy, with every array made a CountedArray."""

    def __getattr__(self, name):
        attr = getattr(np, name)
        if isinstance(attr, np.ufunc) or not callable(attr) or isinstance(attr, type):
            return attr            # ufuncs are noted by CountedArray.__array_ufunc__
        return _counting_function(name, attr)


class CountingBackend(backend.Backend):
    """The kernel branch on NumPy, every launch noted and none of our kernels run."""

    def __init__(self, kernels):
        super().__init__("record", _CountingNumpy(), kernels)

    def gemm(self, a, b, out=None, accumulate=False):
        _note("gemm", "accumulate" if accumulate else "write")
        if out is None:
            _allocated()
            out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b)).view(CountedArray)
        return out

    def to_numpy(self, a):
        return np.asarray(_plain(a))


@contextlib.contextmanager
def counting(kernels):
    """Count into a fresh LaunchCounter while the block runs on a CountingBackend."""
    global _counter
    previous, _counter = _counter, LaunchCounter()
    try:
        with backend.using(CountingBackend(kernels)), np.errstate(all="ignore"):
            yield _counter
    finally:
        _counter = previous


def note_kernel_launch(kernel_name):
    """Called by the recording kernels for each launch of one of ours."""
    _note("ours", kernel_name)


def counted_zeros(shape, dtype=np.float32):
    """An input array for a counted iteration."""
    return np.zeros(shape, dtype).view(CountedArray)


@contextlib.contextmanager
def not_counted():
    """Nothing is counted inside (building the models, the warm-up iteration)."""
    global _counter
    saved, _counter = _counter, None
    try:
        yield
    finally:
        _counter = saved
