"""Load the kernels of kernels/<family>.cu for the cuda backend (NVRTC via CuPy) or the emu
backend (g++ and our CPU emulator), with one call shape for launching:

    modules = KernelModules("emu")                  # or "cuda"
    fn = modules.get_function("activations", "leaky_relu_fwd_f32")
    fn(grid, block, (x, y, np.int32(n), np.float32(0.2)), shared_mem=0)

A file is compiled on first use and cached under a hash of its content, of every header it
includes (transitively) and of the flags, so editing common.cuh or any .cuh rebuilds it.
Both backends check launch arguments against the kernel's signature (kernels/signature.py).
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from .emu import launcher as emu
from .emu.launcher import thread_order  # noqa: F401  (re-exported)
from .errors import KernelCompileError
from .signature import parse_signatures

KERNELS_DIR = Path(__file__).resolve().parent
NVRTC_OPTIONS = ("-std=c++17",)
_INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def cache_dir() -> Path:
    """Where built emulator libraries live: $XDG_CACHE_HOME or ~/.cache, /p2p_cupy/emu."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "p2p_cupy" / "emu"


def included_files(path: Path, include_dirs) -> list:
    """`path` and every file it #includes "like this", transitively, in a stable order."""
    seen, todo = [], [path]
    while todo:
        f = todo.pop(0)
        if f in seen:
            continue
        seen.append(f)
        for name in _INCLUDE.findall(f.read_text()):
            for d in (f.parent, *include_dirs):
                if (d / name).is_file():
                    todo.append((d / name).resolve())
                    break
            else:
                raise KernelCompileError(f"{f}: included file \"{name}\" not found in "
                                         f"{[str(d) for d in (f.parent, *include_dirs)]}")
    return seen


def content_hash(files, flags) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(str(f).encode() + b"\0" + f.read_bytes() + b"\0")
    h.update("\0".join(flags).encode())
    return h.hexdigest()[:24]


class KernelModules:
    """The kernels of one backend kind ("cuda" or "emu"), compiled lazily, per family.

    source_dir: where <family>.cu files are read (default: kernels/); tests use their own.
    """

    def __init__(self, kind: str, source_dir=None):
        if kind not in ("cuda", "emu"):
            raise ValueError(f"KernelModules: kind must be 'cuda' or 'emu', got {kind!r}")
        self.kind = kind
        self.source_dir = Path(source_dir or KERNELS_DIR).resolve()
        self.include_dirs = (KERNELS_DIR,) if self.source_dir == KERNELS_DIR else (self.source_dir, KERNELS_DIR)
        self._families = {}   # family -> (signatures, compiled module)
        self._functions = {}  # (family, name) -> launchable

    def get_function(self, family: str, name: str):
        """The launchable kernel `name` of kernels/<family>.cu."""
        key = (family, name)
        if key not in self._functions:
            signatures, module = self._family(family)
            if name not in signatures:
                raise ValueError(f"{self.source_dir / (family + '.cu')}: no kernel {name!r} "
                                 f"(exported: {', '.join(sorted(signatures)) or 'none'}; "
                                 "kernels are exported as extern \"C\" __global__ void name(...))")
            self._functions[key] = module(name)
        return self._functions[key]

    def _family(self, family: str):
        if family not in self._families:
            path = self.source_dir / f"{family}.cu"
            if not path.is_file():
                raise ValueError(f"kernel family {family!r}: {path} does not exist")
            signatures = parse_signatures(path.read_text(), path)
            build = self._build_emu if self.kind == "emu" else self._build_cuda
            self._families[family] = (signatures, build(path, signatures))
        return self._families[family]

    def _build_emu(self, path: Path, signatures):
        flags = (*emu.CXX_FLAGS, emu.compiler_identity())
        scheduler_files = included_files(emu.SCHEDULER, ())
        scheduler = cache_dir() / f"scheduler-{content_hash(scheduler_files, flags)}.o"
        emu.build_scheduler(scheduler)
        files = included_files(path, self.include_dirs) + scheduler_files
        so = cache_dir() / f"{path.stem}-{content_hash(files, flags)}.so"
        emu.build_library(path, signatures, self.include_dirs, scheduler, so)
        return emu.EmuLibrary(so, path, signatures).kernel

    def _build_cuda(self, path: Path, signatures):
        from . import cuda_module  # imports CuPy: only on the cuda backend
        files = included_files(path, self.include_dirs)
        options = (*NVRTC_OPTIONS, *(f"-I{d}" for d in self.include_dirs))
        return cuda_module.build(path, signatures, options, content_hash(files, options))
