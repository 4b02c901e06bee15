"""Backends: where arrays live and who runs the elementwise/reduction work.

    numpy  numpy arrays, vectorised NumPy code (the readable reference)
    cuda   cupy arrays, our kernels/*.cu through cupy.RawModule, cuBLAS GEMMs
    emu    numpy arrays, the same kernels/*.cu compiled with g++ and run by our CPU
           emulator of CUDA's execution model, numpy GEMMs

How an op finds its backend: from its input array, `of(x)`. A CuPy array is on cuda; a
NumPy array is on the current backend when that one holds NumPy arrays (numpy, or emu,
which runs our kernels on them), else on numpy. The current backend is a context
variable, set only for the length of a block, `with using("emu"): ...`, and read where no
array says anything (new parameters, host data moved in). `cuda` and `emu` share one
path: an op gets a kernel with `bk.kernel(family, op, dtype)` and launches it as
`kernel(grid, block, args, shared_mem=0)`, the call shape of CuPy's RawModule functions.

Importing this module never imports CuPy: the cuda backend is built on first request.
"""
from __future__ import annotations

import contextlib
import operator
import contextvars

import numpy as np

from p2p_cupy.errors import P2PError

DEVICES = ("auto", "cpu", "numpy", "cuda", "emu")
_DTYPE_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


class BackendUnavailable(P2PError, RuntimeError):
    """The requested backend cannot run on this machine; the message says why."""


class Backend:
    """One place to ask for the array module and for compiled kernels.

    name:     "numpy", "cuda" or "emu"
    xp:       the array module (numpy or cupy)
    modules:  None for numpy; for cuda/emu an object with get_function(family, name)
              returning a launchable kernel (see kernels/loader.py)
    """

    def __init__(self, name, xp, modules=None):
        self.name = name
        self.xp = xp
        self.modules = modules
        self.tf32 = False       # see set_tf32
        self._constants = {}    # see constant
        self._recording = None  # (Capture, run, guard) while a step is planned or captured

    @property
    def on_device(self) -> bool:
        """True for cuda, whose arrays live on the GPU; every other backend holds NumPy
        arrays (numpy, emu, and the recording backends of p2p_cupy/inspection/work.py)."""
        return self.name == "cuda"

    @property
    def uses_kernels(self) -> bool:
        """True when ops must run our CUDA kernels (cuda, emu) instead of NumPy code."""
        return self.modules is not None

    def kernel(self, family: str, op: str, dtype):
        """The kernel `<op>_<f32|f64>` from kernels/<family>.cu, compiled on first use."""
        suffix = _DTYPE_SUFFIX.get(np.dtype(dtype))
        if suffix is None:
            raise ValueError(f"kernel {family}/{op}: unsupported dtype {np.dtype(dtype)} "
                             "(kernels exist for float32 and float64)")
        fn = self.modules.get_function(family, f"{op}_{suffix}")
        if self._recording is None:
            return fn
        name = f"{family}/{op}_{suffix}"
        return lambda grid, block, args, shared_mem=0: self._primitive(
            name, lambda: fn(grid, block, args, shared_mem), tuple(grid), tuple(block),
            int(shared_mem), *args)

    # --- the primitives: all device work of the kernel path is one of these ---------
    # (a launch of one of our kernels, above, a GEMM, an add, a scale, a fill, a copy),
    # so that a captured step can record it and replay it (p2p_cupy/capture.py).

    def _primitive(self, name, run, *args):
        """Run one piece of device work, or note it in the step being captured."""
        if self._recording is None:
            return run()
        record, execute, _ = self._recording
        record.note(name, run, *args)
        if execute:
            run()

    @contextlib.contextmanager
    def recording(self, record, run: bool, guard: bool):
        """Note every primitive into `record` (a capture.Capture). run: also run it (the
        planned eager step; on cuda, the capture, whose launches CUDA records instead of
        running); guard: host reads and syncs raise (a capture)."""
        self._recording = (record, run, guard)
        try:
            yield record
        finally:
            self._recording = None

    def _refuse_in_capture(self, what):
        if self._recording is not None and self._recording[2]:
            raise CaptureError(f"{what} inside a captured step: the step must not wait for "
                               "the device or read its values (they exist only at replay)")

    def add_into(self, target, value):
        """target += value (an array or a scalar), in place."""
        self._primitive("add", lambda: operator.iadd(target, value), target, value)

    def scale(self, target, factor):
        """target *= factor, in place."""
        self._primitive("scale", lambda: operator.imul(target, factor), target, factor)

    def fill(self, target, value):
        """Every element of target = value."""
        self._primitive("fill", lambda: target.fill(value), target, value)

    def copy(self, target, source):
        """target[...] = source (same shape, any strides)."""
        def run():
            target[...] = source
        self._primitive("copy", run, target, source)

    def asarray(self, a, dtype=None):
        """Move a host (or device) array onto this backend."""
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a) -> np.ndarray:
        """A host copy (numpy array) of an array of this backend."""
        self._refuse_in_capture(f"to_numpy (in {_caller_name()})")
        if self.name == "cuda":
            return self.xp.asnumpy(a)
        return np.asarray(a)

    def constant(self, value, dtype):
        """A 1-element array holding `value`, made once and kept (a loss's label): no fill
        launch, no allocation per use. Callers must not write into it."""
        key = (float(value), np.dtype(dtype))
        if key not in self._constants:
            self._constants[key] = self.xp.full(1, value, dtype=dtype)
        return self._constants[key]

    def gemm(self, a, b, out=None, accumulate=False):
        """a @ b of 2-D arrays (views with any strides), written into `out` when given, or
        added to it when `accumulate` (out += a @ b). On cuda the accumulation is cuBLAS's
        beta = 1, in the GEMM itself: a weight gradient lands in .grad without a separate
        `+=` launch. On the CPU it is the product then an in-place add, bit for bit what
        `grad += a @ b` gives."""
        if out is None:
            out = self.xp.empty((a.shape[0], b.shape[1]), np.result_type(a.dtype, b.dtype))
        self._primitive("gemm+" if accumulate else "gemm",
                        lambda: self._gemm(a, b, out, accumulate), a, b, out)
        return out

    def _gemm(self, a, b, out, accumulate):
        if not accumulate:
            self.xp.matmul(a, b, out=out)
        elif self.name == "cuda":
            import cupy.cublas
            cupy.cublas.gemm("N", "N", a, b, out=out, beta=1.0)
        else:
            out += np.matmul(a, b)

    def set_tf32(self, enabled: bool):
        """Let float32 GEMMs (cupy.matmul -> cuBLAS) use TF32 tensor cores: faster, with
        10-bit mantissas in the products. Off by default (set so when the cuda backend is
        built, whatever CUPY_TF32 says), so float32 results match the references.
        CuPy keeps one GEMM compute type per dtype; numpy and emu GEMMs are plain float32,
        so there it only records the choice."""
        if self.name == "cuda":
            from cupy._core import _routines_linalg as linalg
            linalg.set_compute_type(np.float32, linalg.COMPUTE_TYPE_TF32 if enabled
                                    else linalg.COMPUTE_TYPE_DEFAULT)
        self.tf32 = bool(enabled)

    def synchronize(self):
        self._refuse_in_capture(f"synchronize (in {_caller_name()})")
        if self.name == "cuda":
            self.xp.cuda.get_current_stream().synchronize()

    def __repr__(self):
        return f"Backend({self.name!r})"


class CaptureError(P2PError, RuntimeError):
    """Something in a captured step would break its replay; the message names the op
    (p2p_cupy/capture.py)."""


def _caller_name():
    import sys
    frame = sys._getframe(2)
    return f"{frame.f_code.co_name}, {frame.f_code.co_filename.rsplit('/', 1)[-1]}"


_NUMPY = Backend("numpy", np)
_cache: dict = {"numpy": _NUMPY}
_current: contextvars.ContextVar = contextvars.ContextVar("p2p_cupy_backend", default=_NUMPY)


def _make_cuda() -> Backend:
    try:
        import cupy  # imported lazily on purpose
    except ImportError as e:
        raise BackendUnavailable(
            "device 'cuda' needs CuPy: pip install 'p2p-cupy[cuda12]' (or [cuda13]) "
            f"on a machine with an NVIDIA GPU ({e})") from None
    try:
        n_gpus = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, no device: CuPy raises its own runtime errors
        raise BackendUnavailable(f"device 'cuda': CuPy sees no GPU ({e})") from None
    if n_gpus == 0:
        raise BackendUnavailable("device 'cuda': CuPy sees no GPU")
    from p2p_cupy.kernels.loader import KernelModules
    cuda = Backend("cuda", cupy, KernelModules("cuda"))
    cuda.set_tf32(False)
    return cuda


def _make_emu() -> Backend:
    from p2p_cupy.kernels.emu.launcher import compiler_missing_reason
    from p2p_cupy.kernels.loader import KernelModules
    reason = compiler_missing_reason()
    if reason:
        raise BackendUnavailable(f"device 'emu': {reason}")
    return Backend("emu", np, KernelModules("emu"))


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one GPU (used by --device auto)."""
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def get_backend(device: str = "auto") -> Backend:
    """The backend for a --device value: auto|cpu|numpy|cuda|emu (cpu means numpy)."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "auto":
        device = "cuda" if cuda_available() else "numpy"
    if device == "cpu":
        device = "numpy"
    if device not in _cache:
        _cache[device] = {"cuda": _make_cuda, "emu": _make_emu}[device]()
    return _cache[device]


def current() -> Backend:
    """The backend of the enclosing `using` block (numpy outside any)."""
    return _current.get()


def of(array) -> Backend:
    """The backend an array belongs to: cuda for a CuPy array; for a NumPy array the
    current backend if it holds NumPy arrays (numpy, emu, a recording one), else numpy."""
    bk = _current.get()
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return _NUMPY if bk.on_device else bk
    return bk if bk.on_device else get_backend("cuda")


@contextlib.contextmanager
def using(device):
    """Run a block on a backend (a name or a Backend): `with using("emu") as bk: ...`.
    Only this block (and this thread or task) sees it; the previous one comes back after."""
    bk = device if isinstance(device, Backend) else get_backend(device)
    token = _current.set(bk)
    try:
        yield bk
    finally:
        _current.reset(token)


def available_backends() -> list:
    """Names of the backends that can run here (numpy always; emu, cuda when buildable)."""
    names = []
    for name in ("numpy", "emu", "cuda"):
        try:
            get_backend(name)
            names.append(name)
        except BackendUnavailable:
            pass
    return names
