"""The work that code asks of a GPU, recorded on the CPU with nothing run on a device.

`record_work(fn)` runs fn on a recording backend: its kernels only note each launch, its
GEMMs (Backend.gemm) note the (m, n, k) and return an uninitialised result of the right
shape without computing it (what cuBLAS would be asked for), and its array module is NumPy
except that ascontiguousarray notes the copy it makes of a non-contiguous array (the
transposing copies between NCHW and the GEMMs' (C, N*H*W) layout).
The arrays hold garbage then, but every shape, and so every launch decision of the ops,
is the real one.

Bytes of a launch come from its arguments and the kernel's signature (kernels/signature.py):
a `const T*` array is read once, a `T*` array written once, and the arrays in
READ_AND_WRITTEN are both. That is the least traffic the launch can cause (each byte
touched once): the floor the roofline model (p2p_cupy/bench/model.py) divides by the
bandwidth. FLOPs are counted for the GEMMs and for the direct conv kernels (KERNEL_FLOPS);
the other kernels do a few operations per byte and are memory-bound.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from p2p_cupy import backend
from p2p_cupy.kernels.loader import KERNELS_DIR
from p2p_cupy.kernels.signature import parse_signatures

# Output arrays a kernel also reads (in-place updates): kernel name -> parameter names.
READ_AND_WRITTEN = {
    "bias_fwd": ("y",),
    "adam_fwd": ("p", "m", "v"),
    "adam_advance": ("hyper",),
    "batch_norm_train_apply": ("running_mean", "running_var"),
    "batch_norm_train_fwd": ("running_mean", "running_var"),
}


def _one_out_conv_flops(a):
    """2 per multiply-add of a 4x4 conv with one output channel (each of its 3 passes)."""
    return 2 * int(a["n"]) * int(a["channels"]) * 16 * int(a["ho"]) * int(a["wo"])


KERNEL_FLOPS = {
    "conv_one_out_fwd": _one_out_conv_flops,
    "conv_one_out_dx": _one_out_conv_flops,
    "conv_one_out_dw_partial": _one_out_conv_flops,
}


@dataclass(frozen=True)
class Launch:
    kernel: str             # family/name
    grid: tuple
    block: tuple
    shared_mem: int

    @property
    def threads(self) -> int:
        return int(np.prod(self.grid) * np.prod(self.block))


@dataclass(frozen=True)
class Work:
    kind: str               # "kernel", "gemm" or "copy"
    name: str               # kernel name without its dtype suffix, "gemm" or "copy"
    family: str             # kernels/<family>.cu, or "cublas" / "copy"
    bytes_read: int
    bytes_written: int
    flops: int = 0
    launch: Optional[Launch] = None

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written


def kernel_work(family: str, name: str, args, launch: Launch, kernels_dir=KERNELS_DIR) -> Work:
    """The Work of one launch of kernels/<family>.cu's `name` with `args`."""
    params = _signatures(str(kernels_dir), family)[name].params
    read = written = 0
    base = name.rsplit("_", 1)[0]            # without _f32 / _f64
    both = READ_AND_WRITTEN.get(base, ())
    values = {}
    for p, a in zip(params, args):
        values[p.name] = a
        if not p.pointer:
            continue
        if p.const or p.name in both:
            read += a.nbytes
        if not p.const:
            written += a.nbytes
    flops = KERNEL_FLOPS[base](values) if base in KERNEL_FLOPS else 0
    return Work("kernel", base, family, read, written, flops, launch)


@functools.lru_cache(maxsize=None)
def _signatures(kernels_dir: str, family: str) -> dict:
    path = Path(kernels_dir) / f"{family}.cu"
    return parse_signatures(path.read_text(), path)


class RecordingKernels:
    """Stands in for kernels/loader.KernelModules: every launch is noted, none is run."""

    def __init__(self, log):
        self.log = log

    def get_function(self, family, name):
        def launch(grid, block, args, shared_mem=0):
            grid = tuple(grid) if isinstance(grid, (tuple, list)) else (grid,)
            block = tuple(block) if isinstance(block, (tuple, list)) else (block,)
            self.log.append(kernel_work(family, name, args, Launch(
                f"{family}/{name}", grid, block, int(shared_mem))))
        return launch


class _NotingArrays:
    """An array module (numpy or cupy) whose ascontiguousarray also notes its Work;
    everything else is the module's own."""

    def __init__(self, xp, log):
        self.xp, self.log = xp, log

    def __getattr__(self, name):
        return getattr(self.xp, name)

    def ascontiguousarray(self, a, dtype=None):
        out = self.xp.ascontiguousarray(a, dtype=dtype)
        if out is not a:     # numpy and cupy return `a` itself when no copy is needed
            self.log.append(Work("copy", "copy", "copy", a.nbytes, out.nbytes))
        return out


class _NotingBackend(backend.Backend):
    """A Backend whose GEMMs are noted as Work: computed too when `compute`, else only an
    uninitialised result of the right shape (the recording backend)."""

    def __init__(self, name, xp, modules, log, compute):
        super().__init__(name, xp, modules)
        self.log, self.compute = log, compute

    def gemm(self, a, b, out=None, accumulate=False):
        m, k = a.shape
        if out is None:
            out = self.xp.empty((m, b.shape[1]), np.result_type(a.dtype, b.dtype))
        read = a.nbytes + b.nbytes + (out.nbytes if accumulate else 0)   # beta = 1 reads out
        self.log.append(Work("gemm", "gemm", "cublas", read, out.nbytes,
                             2 * m * out.shape[1] * k))
        return super().gemm(a, b, out, accumulate) if self.compute else out


class _NotingKernels:
    """A backend's kernel modules that also note each launch's Work (and still run it)."""

    def __init__(self, modules, log):
        self.modules, self.log = modules, log

    def get_function(self, family, name):
        kernel = self.modules.get_function(family, name)

        def launch(grid, block, args, shared_mem=0):
            self.log.append(kernel_work(family, name, args, Launch(
                f"{family}/{name}", tuple(grid), tuple(block), int(shared_mem))))
            kernel(grid, block, args, shared_mem=shared_mem)
        return launch


@contextlib.contextmanager
def noting_work(bk):
    """(a copy of backend bk that notes the Work of its kernel launches and GEMMs while
    running them, the list they are noted in)."""
    log = []
    noted = _NotingBackend(bk.name, _NotingArrays(bk.xp, log), _NotingKernels(bk.modules, log),
                           log, compute=True)
    yield noted, log


def record_work(fn) -> list:
    """The Work list, in order, of everything fn() asks of the device (see the module doc)."""
    log = []
    recording = _NotingBackend("record", _NotingArrays(np, log), RecordingKernels(log), log,
                               compute=False)
    with backend.using(recording), np.errstate(all="ignore"):
        fn()
    return log


def training_iteration(shape, netG="unet_256", netD="basic", ngf=64, ndf=64, norm="batch",
                       n_layers_D=3, no_dropout=False, n_blocks=None):
    """A function running one pix2pix training iteration (train_step) on a batch of
    `shape` (N, C, H, W), networks built inside it (on the current backend)."""
    def one_iteration():
        from p2p_cupy.models import define_D, define_G
        from p2p_cupy.optim import Adam
        from p2p_cupy.train.step import train_step
        n, c, h, w = shape
        G = define_G(netG, input_nc=c, output_nc=c, ngf=ngf, norm=norm,
                     use_dropout=not no_dropout, n_blocks=n_blocks)
        D = define_D(netD, input_nc=2 * c, ndf=ndf, n_layers_D=n_layers_D, norm=norm)
        real = np.zeros(shape, np.float32)
        train_step(G, D, Adam(G.parameters()), Adam(D.parameters()), real, real)
    return one_iteration
