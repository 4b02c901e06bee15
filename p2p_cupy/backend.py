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
        return self.modules.get_function(family, f"{op}_{suffix}")

    def asarray(self, a, dtype=None):
        """Move a host (or device) array onto this backend."""
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a) -> np.ndarray:
        """A host copy (numpy array) of an array of this backend."""
        if self.name == "cuda":
            return self.xp.asnumpy(a)
        return np.asarray(a)

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
        if self.name == "cuda":
            self.xp.cuda.get_current_stream().synchronize()

    def __repr__(self):
        return f"Backend({self.name!r})"


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
