"""Build a kernels/*.cu file with g++ and launch its kernels on the CPU (the emu backend).

The shared library holds the kernels, scheduler.cpp (CUDA's execution model on fibers) and
one generated entry per kernel, `p2p_entry_<name>(void** args)`, that unpacks an argument
array (as cuLaunchKernel's kernelParams) into the typed call. The launcher checks what a GPU
would refuse (launch limits) and what CuPy would silently accept (argument types), and puts
guard bytes around every output array to catch writes out of bounds.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import KernelCompileError

EMU_DIR = Path(__file__).resolve().parent
SCHEDULER = EMU_DIR / "scheduler.cpp"
CXX = "g++"
CXX_FLAGS = ("-std=c++17", "-O2", "-fPIC", "-fvisibility=hidden", "-DP2P_EMU")

# Limits of the GPUs we target (sm_80/sm_90): per block.
MAX_THREADS_PER_BLOCK = 1024
MAX_BLOCK_DIM = (1024, 1024, 64)
MAX_GRID_DIM = (2**31 - 1, 65535, 65535)
DEFAULT_SHARED_BYTES = 48 * 1024       # static + dynamic, without opting in
MAX_OPT_IN_SHARED_BYTES = 227 * 1024   # sm_90 (sm_80: 163 KiB)
GUARD_BYTES = 256                      # around each output array
GUARD_BYTE = 0xA5

_thread_order = {"reverse": False}


@contextlib.contextmanager
def thread_order(order: str):
    """Run emulated launches with the threads (and blocks) in "forward" or "reverse" order.

    A kernel with a missing barrier or a race gives different results in the two orders;
    kernel tests run both and require the same output.
    """
    if order not in ("forward", "reverse"):
        raise ValueError(f"thread_order: expected 'forward' or 'reverse', got {order!r}")
    previous = _thread_order["reverse"]
    _thread_order["reverse"] = order == "reverse"
    try:
        yield
    finally:
        _thread_order["reverse"] = previous


def compiler_missing_reason():
    """None when g++ is on PATH, else why the emu backend cannot be built."""
    if shutil.which(CXX) is None:
        return "the emu backend compiles kernels/*.cu with g++, which is not on PATH"
    return None


@functools.lru_cache(maxsize=None)
def compiler_identity() -> str:
    """The compiler's version, part of the cache key."""
    return subprocess.run([CXX, "--version"], capture_output=True, text=True).stdout


def entry_points(cu_path: Path, signatures: dict) -> str:
    """C++ that includes the .cu file and adds one untyped entry per kernel."""
    lines = [f'#include "{cu_path}"']
    for sig in signatures.values():
        unpack = ", ".join(f"*static_cast<{p.c_decl}*>(a[{i}])" for i, p in enumerate(sig.params))
        lines.append(f'extern "C" __attribute__((visibility("default"))) '
                     f"void p2p_entry_{sig.name}(void** a) {{ {sig.name}({unpack}); }}")
    return "\n".join(lines) + "\n"


def _compile(args, source_name: str, out: Path) -> None:
    """Run g++ into a temporary file next to `out`, then rename it: parallel test
    processes building the same file never see a half-written one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        result = Path(tmp) / out.name
        done = subprocess.run([CXX, *CXX_FLAGS, *args, "-o", str(result)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise KernelCompileError(f"g++ failed to compile {source_name}:\n{done.stderr}")
        os.replace(result, out)


def build_scheduler(out: Path) -> None:
    """The scheduler's object file (the slow part of a build, shared by all libraries)."""
    if not out.exists():
        _compile(["-c", str(SCHEDULER)], str(SCHEDULER), out)


def build_library(cu_path: Path, signatures: dict, include_dirs, scheduler: Path, out: Path) -> None:
    """The shared library of one .cu file (with the scheduler object linked in)."""
    if out.exists():
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        wrapper = Path(tmp) / "entries.cpp"
        wrapper.write_text(entry_points(cu_path, signatures))
        _compile(["-shared", *(f"-I{d}" for d in include_dirs), str(wrapper), str(scheduler)],
                 str(cu_path), out)


class EmuLibrary:
    """One compiled .cu file: its kernels as launchable EmuKernel objects."""

    def __init__(self, so_path: Path, cu_path: Path, signatures: dict):
        self._dll = ctypes.PyDLL(str(so_path))  # PyDLL: the GIL stays held during a launch
        self._dll.p2p_emu_launch.restype = ctypes.c_int
        self._dll.p2p_emu_launch.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_ulonglong, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._dll.p2p_emu_static_shared_bytes.restype = ctypes.c_ulonglong
        self.static_shared_bytes = int(self._dll.p2p_emu_static_shared_bytes())
        self.cu_path = cu_path
        self.signatures = signatures

    def kernel(self, name: str) -> "EmuKernel":
        entry = ctypes.cast(getattr(self._dll, f"p2p_entry_{name}"), ctypes.c_void_p).value
        return EmuKernel(self, self.signatures[name], entry)


def _dims(value, what: str, where: str) -> tuple:
    dims = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if not 1 <= len(dims) <= 3 or not all(isinstance(d, (int, np.integer)) for d in dims):
        raise ValueError(f"{where}: {what} must be an int or a tuple of 1 to 3 ints, got {value!r}")
    return tuple(int(d) for d in dims) + (1,) * (3 - len(dims))


class EmuKernel:
    """A kernel launched as `kernel(grid, block, args, shared_mem=0)`, like CuPy's."""

    def __init__(self, library: EmuLibrary, signature, entry: int):
        self.library = library
        self.signature = signature
        self.entry = entry
        self.where = f"kernel {signature.name} ({library.cu_path.name})"
        # Like CuPy's Function attribute: opt in to more than 48 KiB of shared memory.
        self.max_dynamic_shared_size_bytes = None

    def __call__(self, grid, block, args, shared_mem=0):
        grid = _dims(grid, "grid", self.where)
        block = _dims(block, "block", self.where)
        self._check_limits(grid, block, int(shared_mem))
        self.signature.check_args(args, self.where, np.ndarray)
        with _GuardedArgs(self.signature, args, self.where) as argv:
            err = ctypes.create_string_buffer(2048)
            failed = self.library._dll.p2p_emu_launch(
                self.entry, argv, (ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block),
                int(shared_mem), int(_thread_order["reverse"]), err, len(err))
            if failed:
                raise RuntimeError(f"{self.where}: {err.value.decode()}")

    def _check_limits(self, grid, block, shared_mem):
        threads = block[0] * block[1] * block[2]
        limit = self.signature.max_threads or MAX_THREADS_PER_BLOCK
        if threads > limit or any(b > m for b, m in zip(block, MAX_BLOCK_DIM)) or min(block) < 1:
            raise ValueError(f"{self.where}: block {block} has {threads} threads; the limit is "
                             f"{limit} per block and {MAX_BLOCK_DIM} per dimension")
        if min(grid) < 1 or any(g > m for g, m in zip(grid, MAX_GRID_DIM)):
            raise ValueError(f"{self.where}: grid {grid} outside 1..{MAX_GRID_DIM}")
        static = self.library.static_shared_bytes
        opt_in = self.max_dynamic_shared_size_bytes
        if shared_mem < 0 or (opt_in is None and static + shared_mem > DEFAULT_SHARED_BYTES):
            raise ValueError(f"{self.where}: {static} B static + {shared_mem} B dynamic shared "
                             f"memory exceeds {DEFAULT_SHARED_BYTES} B (set "
                             "max_dynamic_shared_size_bytes to opt in to more)")
        if opt_in is not None and (shared_mem > opt_in or static + opt_in > MAX_OPT_IN_SHARED_BYTES):
            raise ValueError(f"{self.where}: {shared_mem} B dynamic shared memory exceeds the "
                             f"opt-in {opt_in} B or {static} B static + {opt_in} B exceeds "
                             f"{MAX_OPT_IN_SHARED_BYTES} B")


class _GuardedArgs:
    """The kernelParams array for a launch; output arrays are run in guarded copies.

    Each output (non-const pointer) array is copied into a buffer with GUARD_BYTES of a known
    pattern on each side; after the launch the guards are checked and the data copied back.
    Arguments that are the same array share one copy (in-place kernels); an output that
    partly overlaps another argument runs unguarded.
    """

    def __init__(self, signature, args, where):
        self.where = where
        self.copies = {}  # (address, nbytes) of an output -> (guarded buffer, array, name)
        pointers = [(p, a) for p, a in zip(signature.params, args) if p.pointer]
        spans = [_span(a) for _, a in pointers]
        for p, a in pointers:
            if not p.const and _span(a) not in self.copies and not _partly_overlaps(_span(a), spans):
                buf = np.full(a.nbytes + 2 * GUARD_BYTES, GUARD_BYTE, dtype=np.uint8)
                buf[GUARD_BYTES:GUARD_BYTES + a.nbytes] = a.reshape(-1).view(np.uint8)
                self.copies[_span(a)] = (buf, a, p.name)
        self.values = []  # what each kernelParams entry points at
        for p, a in zip(signature.params, args):
            if not p.pointer:
                self.values.append(np.array(a))  # a 0-d copy: its data is the value
            elif _span(a) in self.copies:
                buf = self.copies[_span(a)][0]
                self.values.append(ctypes.c_void_p(buf.ctypes.data + GUARD_BYTES))
            else:
                self.values.append(ctypes.c_void_p(a.ctypes.data))
        addresses = [v.ctypes.data if isinstance(v, np.ndarray) else ctypes.addressof(v)
                     for v in self.values]
        self.argv = (ctypes.c_void_p * max(1, len(addresses)))(*addresses)

    def __enter__(self):
        return self.argv

    def __exit__(self, exc_type, exc, tb):
        for buf, a, name in self.copies.values():
            before, after = buf[:GUARD_BYTES], buf[GUARD_BYTES + a.nbytes:]
            a.reshape(-1).view(np.uint8)[:] = buf[GUARD_BYTES:GUARD_BYTES + a.nbytes]
            if exc_type is None and ((before != GUARD_BYTE).any() or (after != GUARD_BYTE).any()):
                side = "before its start" if (before != GUARD_BYTE).any() else "after its end"
                raise RuntimeError(f"{self.where}: out-of-bounds write {side} of output "
                                   f"'{name}' ({a.dtype} array of {a.size} elements)")
        return False


def _span(a: np.ndarray) -> tuple:
    return a.ctypes.data, a.nbytes


def _partly_overlaps(span, spans) -> bool:
    start, size = span
    return any(s != span and start < s[0] + s[1] and s[0] < start + size for s in spans)
