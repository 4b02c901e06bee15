"""`p2p inspect kernels`: what each CUDA kernel costs the GPU, and how our ops launch them.

Resources per kernel (per thread: registers; per block: static shared memory; local memory
and spills) come from either
  * nvcc: `nvcc -cubin -Xptxas -v` compiles kernels/<family>.cu for one architecture and
    ptxas reports every entry function; this needs no GPU, only the CUDA toolkit; or
  * CuPy on a GPU: the attributes of the functions our cuda backend compiled with NVRTC
    (cudaFuncGetAttributes: registers, shared and local bytes; spills are not reported).
Local memory is per-thread stack: arrays indexed at run time and registers spilled when the
kernel needs more than the architecture allows; it lives in (cached) global memory, so a
hot kernel should have none.

Launch configurations are recorded, not predicted: the second training iteration of the
real models runs on inspection/launch_count.py's counting backend with inspection/work.py's
recording kernels, which do nothing but note (kernel, grid, block, shared memory, the bytes
of their arguments); the counter also notes every GEMM, CuPy elementwise op, fill and copy.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from p2p_cupy.inspection.launch_count import (counted_zeros, counting, not_counted,
                                              note_kernel_launch)
from p2p_cupy.inspection.work import (Launch, RecordingKernels, record_work,  # noqa: F401
                                      training_iteration)
from p2p_cupy.kernels.loader import KERNELS_DIR, NVRTC_OPTIONS
from p2p_cupy.kernels.signature import parse_signatures

_ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(\w+)'")
_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_REGS = re.compile(r"Used (\d+) registers")
_SMEM = re.compile(r"(\d+) bytes smem")
_LMEM = re.compile(r"(\d+) bytes lmem")


@dataclass
class KernelResources:
    file: str
    kernel: str
    arch: str
    registers: int          # per thread
    shared_bytes: int       # static shared memory per block
    local_bytes: int        # per thread (ptxas: the stack frame)
    spill_stores: int = None    # bytes; None where the source does not report spills
    spill_loads: int = None

    def as_dict(self):
        return asdict(self)


def parse_ptxas(text: str, file: str) -> list:
    """KernelResources for every entry function in ptxas -v output (in its order)."""
    found, current = [], None
    for line in text.splitlines():
        m = _ENTRY.search(line)
        if m:
            current = KernelResources(file, m.group(1), m.group(2), 0, 0, 0, 0, 0)
            found.append(current)
            continue
        if current is None:
            continue
        m = _FRAME.search(line)
        if m:
            current.local_bytes, current.spill_stores, current.spill_loads = map(int, m.groups())
        if _REGS.search(line):
            current.registers = int(_REGS.search(line).group(1))
            current.shared_bytes = int(_SMEM.search(line).group(1)) if _SMEM.search(line) else 0
            if _LMEM.search(line):      # older ptxas reports lmem on this line
                current.local_bytes = max(current.local_bytes, int(_LMEM.search(line).group(1)))
    return found


def kernel_files(directory=KERNELS_DIR) -> list:
    return sorted(Path(directory).glob("*.cu"))


def nvcc_resources(path, arch: str = "sm_80", nvcc: str = "nvcc") -> list:
    """Resources of the kernels of one .cu file, compiled by nvcc for `arch` (no GPU)."""
    path = Path(path)
    if shutil.which(nvcc) is None:
        raise ValueError(f"{nvcc} not found: install the CUDA toolkit, or use --source cupy "
                         "on a machine with a GPU")
    includes = [f"-I{d}" for d in dict.fromkeys((path.parent, KERNELS_DIR))]
    cmd = [nvcc, "-cubin", f"-arch={arch}", "-Xptxas", "-v", *NVRTC_OPTIONS, *includes,
           "-o", "/dev/null", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise ValueError(f"{path}: nvcc failed ({' '.join(cmd)}):\n{done.stderr.strip()}")
    return parse_ptxas(done.stdout + done.stderr, path.name)


def cupy_resources(path) -> list:
    """Resources of the kernels of one .cu file as compiled by the cuda backend (a GPU)."""
    path = Path(path)
    from p2p_cupy.kernels.loader import KernelModules
    modules = KernelModules("cuda", path.parent)
    import cupy
    arch = f"sm_{cupy.cuda.Device().compute_capability}"
    rows = []
    for name in parse_signatures(path.read_text(), path):
        attrs = modules.get_function(path.stem, name).function.attributes
        rows.append(KernelResources(path.name, name, arch, attrs["num_regs"],
                                    attrs["shared_size_bytes"], attrs["local_size_bytes"]))
    return rows


# --- launch configurations (recorded by inspection/work.py) ----------------------------

class _RecordingKernels(RecordingKernels):
    """work.py's recording kernels (noted, not run) whose launches the launch counter of
    inspection/launch_count.py also counts; `launches` are the Launch configurations."""

    def __init__(self):
        super().__init__([])

    @property
    def launches(self):
        return [w.launch for w in self.log]

    def get_function(self, family, name):
        launch = super().get_function(family, name)

        def counted(grid, block, args, shared_mem=0):
            launch(grid, block, args, shared_mem)
            note_kernel_launch(f"{family}/{name}")
        return counted


def record_launches(work) -> Counter:
    """Counter of the Launch configurations that work() makes on a recording backend."""
    return Counter(w.launch for w in record_work(work) if w.kind == "kernel")


def training_launches(shape, netG="unet_256", netD="basic", ngf=64, ndf=64, norm="batch",
                      n_layers_D=3, no_dropout=False, n_blocks=None):
    """The launches of one pix2pix training iteration on a batch of `shape` (N, C, H, W)
    with the model options of `p2p train`: a Counter of Launch -> how many times per
    iteration."""
    return training_launch_count(shape, netG, netD, ngf, ndf, norm, n_layers_D, no_dropout,
                                 n_blocks)[1]


def training_launch_count(shape, netG="unet_256", netD="basic", ngf=64, ndf=64,
                          norm="batch", n_layers_D=3, no_dropout=False, n_blocks=None):
    """(LaunchCounter, Counter of our Launches) of the second pix2pix training iteration
    on a batch of `shape` (N, C, H, W) with the model options of `p2p train`: every device
    launch, ours, GEMMs and CuPy's, the way the training loop makes them (launch_count.py
    says how they are counted)."""
    from p2p_cupy.models import define_D, define_G
    from p2p_cupy.optim import Adam
    from p2p_cupy.train.step import StepInputs, train_step_on
    n, c, h, w = shape
    kernels = _RecordingKernels()
    with counting(kernels) as counter:
        with not_counted():
            G = define_G(netG, input_nc=c, output_nc=c, ngf=ngf, norm=norm,
                         use_dropout=not no_dropout, n_blocks=n_blocks)
            D = define_D(netD, input_nc=2 * c, ndf=ndf, n_layers_D=n_layers_D, norm=norm)
            opt_G, opt_D = Adam(G.parameters()), Adam(D.parameters())
            inputs = StepInputs(shape, shape, np.float32)
            inputs.copy_in(counted_zeros(shape), counted_zeros(shape))   # before the step
            train_step_on(inputs, G, D, opt_G, opt_D)       # the warm-up iteration
            kernels.log.clear()
        train_step_on(inputs, G, D, opt_G, opt_D)
    return counter, Counter(kernels.launches)
