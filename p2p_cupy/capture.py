"""Capture mode: a whole step recorded once and replayed, as a CUDA graph does, on the CPU.

A CUDA graph replays the kernels of one captured step with the arguments they had at
capture: the same buffers, the same scalars. A step is capturable only if

  * every buffer it touches exists before it starts and is the same at every step
    (no allocation inside the step),
  * nothing it needs comes from the host per step (no host scalar that changes between
    steps: Adam's t and lr live in device memory, optim.py),
  * nothing in it waits for the device or reads a device value on the host.

This module proves those properties on the kernel backends (emu here; the same ops run on
cuda), where every piece of device work of the step is one of the backend's primitives:
a launch of one of our kernels, a GEMM, an add / scale / fill / copy (backend.py). While a
step is captured the backend notes each primitive with its arguments, instead of running
it: arrays by buffer, byte offset, shape, strides and dtype, scalars by value. Replaying
the record runs exactly those primitives again.

Buffers come from a planned arena. The first, eager step runs with an xp whose allocating
functions (empty, zeros, ascontiguousarray of a strided view, ...) note every array they
make; the capture serves the same arrays again, in the same order. So every buffer of the
step is allocated before the capture, once, and reused by every replay (the arena holds
every intermediate of one step at once: no reuse between buffers whose lives do not
overlap, the simple choice; docs/DESIGN.md, "The static step", says why). An allocation
the plan does not have, a host read (`to_numpy`, `float` / `int` / `bool` / `.item()` of
a step's output, `synchronize`), or a scalar argument that differs from the planning
step's raises CaptureError naming the op.
"""
from __future__ import annotations

import contextlib
import sys

import numpy as np

from p2p_cupy.backend import CaptureError  # noqa: F401  (defined there: the backend raises it)


def _caller():
    """The first function outside this module and backend.py: the op that did it."""
    from p2p_cupy import backend
    ours = {__file__, backend.__file__}
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename in ours:
        frame = frame.f_back
    return "?" if frame is None else f"{frame.f_code.co_name} ({frame.f_code.co_filename.rsplit('/', 1)[-1]})"


class StepArray(np.ndarray):
    """A buffer of a planned step (emu, numpy): reading its value on the host while a step
    is captured raises, because the value does not exist yet (the step has not run)."""

    _capturing = None           # the Capture in progress, if any (class-wide)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        """NumPy work on a step buffer while a step is captured is device work that is not
        one of the backend's primitives: it would not be in the record, so it raises."""
        if StepArray._capturing is not None:
            raise CaptureError(f"NumPy {ufunc.__name__} on a step buffer inside a captured "
                               f"step (in {_caller()}): device work must go through the "
                               "backend's primitives (launch, gemm, add_into, scale, fill, "
                               "copy) to be recorded")
        plain = tuple(a.view(np.ndarray) if isinstance(a, StepArray) else a for a in inputs)
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, StepArray) else o
                                  for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        return out[0] if out is not None and len(out) == 1 else result

    def _refuse(self, what):
        if StepArray._capturing is not None:
            raise CaptureError(f"{what} of a device value inside a captured step (in "
                               f"{_caller()}): the value exists only once the step replays")

    def __float__(self):
        self._refuse("float()")
        return float(self.view(np.ndarray))

    def __int__(self):
        self._refuse("int()")
        return int(self.view(np.ndarray))

    def __bool__(self):
        self._refuse("bool()")
        return bool(self.view(np.ndarray))

    def item(self, *args):
        self._refuse(".item()")
        return self.view(np.ndarray).item(*args)

    def tolist(self):
        self._refuse(".tolist()")
        return self.view(np.ndarray).tolist()


def _buffer_and_offset(a):
    """(the allocation an array lives in, its byte offset there), numpy or cupy."""
    if isinstance(a, np.ndarray):
        root = a
        while isinstance(root.base, np.ndarray):
            root = root.base
        return root, a.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    return a.data.mem, a.data.ptr - a.data.mem.ptr        # a cupy array


def describe(value, buffers):
    """An argument as the record keeps it: an array by (buffer number, byte offset, shape,
    strides, dtype), a scalar by (type, value). `buffers` numbers the buffers in order of
    first appearance, so two records of the same step compare equal."""
    if hasattr(value, "strides") and not np.isscalar(value):
        buffer, offset = _buffer_and_offset(value)
        number = buffers.setdefault(id(buffer), len(buffers))
        return ("array", number, offset, tuple(value.shape), tuple(value.strides),
                str(value.dtype))
    if isinstance(value, np.generic):
        return ("scalar", type(value).__name__, value.item())
    return ("scalar", type(value).__name__, value)


class Op:
    """One recorded primitive: what runs it again, and how the record describes it."""

    __slots__ = ("name", "run", "args")

    def __init__(self, name, run, args):
        self.name, self.run, self.args = name, run, args


class Capture:
    """A record of one step: its ops in order; `replay()` runs them again."""

    def __init__(self):
        self.ops = []

    def note(self, name, run, *args):
        self.ops.append(Op(name, run, args))

    def replay(self):
        for op in self.ops:
            op.run()

    def description(self) -> list:
        """The record as plain tuples (see describe): equal records, equal steps."""
        buffers = {}
        return [(op.name, tuple(describe(a, buffers) for a in op.args)) for op in self.ops]


class PlannedXp:
    """Stands in for numpy as a kernel backend's `xp` while a step is planned or captured:
    its allocating functions take their arrays from the arena."""

    ALLOCATING = ("empty", "empty_like", "zeros", "zeros_like", "full", "full_like")

    def __init__(self, arena, xp):
        self._arena, self._xp = arena, xp

    def __getattr__(self, name):
        attr = getattr(self._xp, name)
        if name in self.ALLOCATING:
            return lambda *args, **kwargs: self._arena.array(name, args, kwargs)
        return attr

    def ascontiguousarray(self, a, dtype=None):
        if a.flags.c_contiguous and (dtype is None or np.dtype(dtype) == a.dtype):
            return a
        out = self._arena.array("ascontiguousarray", (a,), {"dtype": dtype})
        from p2p_cupy import backend
        backend.current().copy(out, a)
        return out


class Arena:
    """The step's buffers, in the order the step asks for them. Planning (the eager step
    before the capture): allocate and note each; serving (the capture): hand the noted
    ones out again, checking that the step asks for the same shapes in the same order."""

    FILLS = {"zeros": 0, "zeros_like": 0}

    def __init__(self, xp):
        self.xp, self.buffers = xp, []
        self.serving = False
        self.next = 0

    def array(self, fn_name, args, kwargs):
        shape, dtype = _requested(fn_name, args, kwargs)
        if not self.serving:
            a = self.xp.empty(shape, dtype)
            if isinstance(a, np.ndarray):
                a = a.view(StepArray)
            self.buffers.append(a)
        else:
            if self.next >= len(self.buffers):
                raise CaptureError(f"allocation inside a captured step ({fn_name} {shape} in "
                                   f"{_caller()}): the planned step made only "
                                   f"{len(self.buffers)} arrays")
            a = self.buffers[self.next]
            if (tuple(a.shape), np.dtype(a.dtype)) != (shape, dtype):
                raise CaptureError(f"allocation inside a captured step ({fn_name} {shape} "
                                   f"{dtype} in {_caller()}) differs from the planned step's "
                                   f"{tuple(a.shape)} {a.dtype}: not the same step")
            self.next += 1
        fill = self.FILLS.get(fn_name)
        if fn_name in ("full", "full_like"):
            fill = args[1] if len(args) > 1 else kwargs["fill_value"]
        if fill is not None:
            from p2p_cupy import backend
            backend.current().fill(a, fill)
        return a


def _requested(fn_name, args, kwargs):
    """(shape, dtype) an allocating call asks for."""
    if fn_name.endswith("_like") or fn_name == "ascontiguousarray":
        like = args[0]
        dtype = kwargs.get("dtype") or (args[1] if len(args) > 1 and fn_name == "empty_like"
                                        else None)
        return tuple(like.shape), np.dtype(dtype or like.dtype)
    shape = args[0] if args else kwargs["shape"]
    shape = (shape,) if np.isscalar(shape) else tuple(shape)
    dtype = kwargs.get("dtype", args[-1] if len(args) > (2 if fn_name == "full" else 1)
                       else np.float64)
    return shape, np.dtype(dtype)


class CapturedStep:
    """A step function captured once and replayed: plan (one eager step with the arena
    noting its buffers), capture (the record; nothing runs, except into a CUDA graph on
    cuda), then replay per step (the record's primitives again; on cuda, the graph).

        step = CapturedStep(bk, lambda: train_step_on(inputs, G, D, opt_G, opt_D))
        outputs = step.plan()           # an ordinary step; its outputs are step buffers
        step.capture()                  # raises CaptureError if the step is not capturable
        inputs.copy_in(A, B); step.replay()   # each later step: outputs hold its values
    """

    def __init__(self, bk, fn):
        if not bk.uses_kernels:
            raise CaptureError(f"capture needs a kernel backend (emu, cuda), not {bk.name!r}: "
                               "the NumPy ops are not made of launches")
        self.bk, self.fn = bk, fn
        self.arena = Arena(bk.xp)
        self.planned = self.record = None
        self.outputs = None

    @contextlib.contextmanager
    def _with_arena(self):
        """The step's backend is the current one (ops take NumPy arrays' backend from it,
        backend.of) and hands out the arena's buffers."""
        from p2p_cupy import backend
        xp = self.bk.xp
        self.bk.xp = PlannedXp(self.arena, xp)
        try:
            with backend.using(self.bk):
                yield
        finally:
            self.bk.xp = xp

    def plan(self):
        """Run one eager step, noting its buffers and its record (to compare scalars)."""
        self.arena = Arena(self.bk.xp)
        self.planned = Capture()
        with self._with_arena(), self.bk.recording(self.planned, run=True, guard=False):
            self.outputs = self.fn()
        return self.outputs

    def capture(self):
        """Record the step without running it; raises CaptureError on an allocation the
        plan lacks, a host read, a sync, or a scalar that changed since the plan. On cuda
        the same pass is also captured into a cupy.cuda.Graph on a non-default stream."""
        if self.planned is None:
            self.plan()
        self.arena.serving, self.arena.next = True, 0
        record = Capture()
        StepArray._capturing = record
        on_gpu = self.bk.name == "cuda"
        try:
            with self._with_arena(), self.bk.recording(record, run=on_gpu, guard=True), \
                    (_cuda_graph_capture(self) if on_gpu else contextlib.nullcontext()):
                outputs = self.fn()
        finally:
            StepArray._capturing = None
        if self.arena.next != len(self.arena.buffers):
            raise CaptureError(f"the captured step used {self.arena.next} of the "
                               f"{len(self.arena.buffers)} planned arrays: not the same step")
        _same_or_raise(self.planned.description(), record.description())
        self.record, self.outputs = record, outputs
        return record

    def replay(self):
        """Run the captured step; self.outputs then hold this step's values. On cuda: one
        launch of the graph, ordered after the work before it and before the work after it
        on the current stream (no host sync)."""
        if self.bk.name != "cuda":
            self.record.replay()
            return self.outputs
        current = self.bk.xp.cuda.get_current_stream()
        self.stream.wait_event(current.record())
        self.graph.launch(self.stream)
        current.wait_event(self.stream.record())
        return self.outputs


@contextlib.contextmanager
def _cuda_graph_capture(step):
    """Capture the CUDA work of the block into step.graph, on a stream of its own (CUDA
    cannot capture the legacy default stream); the planned step's work is finished first."""
    cupy = step.bk.xp
    if getattr(step, "stream", None) is None:
        step.stream = cupy.cuda.Stream(non_blocking=True)
    cupy.cuda.get_current_stream().synchronize()
    with step.stream:
        step.stream.begin_capture()
        try:
            yield
        finally:
            step.graph = step.stream.end_capture()


def _same_or_raise(planned, captured):
    for i, (p, c) in enumerate(zip(planned, captured)):
        if p != c:
            raise CaptureError(f"op {i} of the captured step, {c[0]}, differs from the planned "
                               f"step's ({p[0]}): a host scalar or buffer that changes between "
                               f"steps cannot be captured (arguments {p[1]} then {c[1]})")
    if len(planned) != len(captured):
        raise CaptureError(f"the captured step has {len(captured)} ops, the planned one "
                           f"{len(planned)}")
