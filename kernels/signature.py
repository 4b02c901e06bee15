"""Kernel signatures read from the .cu source, and the launch-argument check they allow.

Every launchable kernel is exported as `extern "C" __global__ void name(params)` (see
common.cuh). Reading those lines tells us each parameter's type, so a launch with a Python
int for an `int`, a float64 array for a `float*` or a non-contiguous array is refused with
a clear message instead of silently reinterpreting the bytes (what CuPy would do).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# C type -> numpy dtype; the only parameter types kernels may use (see common.cuh).
C_TYPES = {
    "int": np.int32,
    "unsigned int": np.uint32,
    "long long": np.int64,
    "unsigned long long": np.uint64,
    "float": np.float32,
    "double": np.float64,
    "unsigned char": np.uint8,
}

_EXPORT = re.compile(
    r'extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\s*\(\s*(\d+)[^)]*\)\s*)?'
    r"(\w+)\s*\(([^)]*)\)")
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_PARAM = re.compile(r"^(const\s+)?([a-z ]+?)\s*(\*)?\s*(?:__restrict__\s*)?(\w+)$")


@dataclass(frozen=True)
class Param:
    name: str
    ctype: str       # "float", "unsigned int", ...
    dtype: np.dtype
    pointer: bool
    const: bool

    @property
    def c_decl(self) -> str:
        """The C type as written for a cast, e.g. 'const float*'."""
        return ("const " if self.const else "") + self.ctype + ("*" if self.pointer else "")

    def describe(self) -> str:
        return f"{self.c_decl} {self.name}"


@dataclass(frozen=True)
class Signature:
    name: str
    params: tuple
    max_threads: int | None  # from __launch_bounds__(N), else None

    def check_args(self, args, where: str, array_type) -> None:
        """Raise ValueError unless `args` matches the parameters exactly.

        array_type: the array class of the backend (numpy.ndarray or cupy.ndarray).
        """
        if not isinstance(args, (tuple, list)):
            raise ValueError(f"{where}: args must be a tuple, got {type(args).__name__}")
        if len(args) != len(self.params):
            raise ValueError(f"{where}: expected {len(self.params)} arguments "
                             f"({', '.join(p.describe() for p in self.params)}), got {len(args)}")
        for i, (p, a) in enumerate(zip(self.params, args)):
            problem = _mismatch(p, a, array_type)
            if problem:
                raise ValueError(f"{where}: argument {i} ({p.describe()}) expects "
                                 f"{_expected(p)}, got {problem}")


def _expected(p: Param) -> str:
    dt = np.dtype(p.dtype).name
    if p.pointer:
        return f"a C-contiguous {dt} array"
    return f"a numpy.{dt} scalar"


def _mismatch(p: Param, a, array_type) -> str:
    """'' when `a` fits parameter `p`, else what `a` is."""
    if p.pointer:
        if not isinstance(a, array_type):
            return type(a).__name__
        if a.dtype != p.dtype:
            return f"a {a.dtype} array"
        if not a.flags.c_contiguous:
            return f"a non-contiguous array (strides {a.strides})"
        if not p.const and not getattr(a.flags, "writeable", True):
            return "a read-only array"
        return ""
    if not isinstance(a, np.generic):
        return f"{type(a).__name__} {a!r}"
    if a.dtype != p.dtype:
        return f"numpy.{a.dtype}"
    return ""


def _parse_param(text: str, kernel: str, path) -> Param:
    m = _PARAM.match(" ".join(text.split()))
    ctype = " ".join(m.group(2).split()) if m else None
    if m is None or ctype not in C_TYPES:
        raise ValueError(f"{path}: kernel {kernel}: unsupported parameter '{text.strip()}' "
                         f"(allowed: {', '.join(C_TYPES)} by value or as [const] T*)")
    const, pointer = bool(m.group(1)), bool(m.group(3))
    if const and not pointer:
        raise ValueError(f"{path}: kernel {kernel}: write '{text.strip()}' without const "
                         "(by-value parameters are copies anyway)")
    return Param(m.group(4), ctype, np.dtype(C_TYPES[ctype]), pointer, const)


def parse_signatures(source: str, path) -> dict:
    """{kernel name: Signature} for every `extern "C" __global__` kernel in `source`."""
    found = {}
    for m in _EXPORT.finditer(_COMMENT.sub(" ", source)):
        bounds, name, params = m.groups()
        params = params.strip()
        plist = () if params in ("", "void") else tuple(
            _parse_param(t, name, path) for t in params.split(","))
        found[name] = Signature(name, plist, int(bounds) if bounds else None)
    return found
