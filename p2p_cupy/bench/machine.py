"""What a result was measured on: CPU, cores, GPU, library versions, threads, and the
machine's measured float32 matmul peak (the yardstick for "% of peak")."""
from __future__ import annotations

import os
import platform

import numpy as np

from p2p_cupy import backend
from p2p_cupy.bench.timing import best_of


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_name() -> str:
    """numpy's BLAS (e.g. scipy-openblas 0.3.31), from its build configuration."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:                                   # older numpy: no dict mode
        return "unknown"


def gpu_name(bk) -> str | None:
    if bk.name != "cuda":
        return None
    props = bk.xp.cuda.runtime.getDeviceProperties(bk.xp.cuda.Device().id)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else name


def info(bk, torch=None) -> dict:
    info = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__, "blas": blas_name(),
        "backend": bk.name, "gpu": gpu_name(bk),
        # other work on the machine slows both sides; multi-threaded BLAS/OpenMP barriers
        # suffer most when the cores are oversubscribed, so keep it next to the numbers
        "load_average_1_5_15min": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg") else None,
    }
    if bk.name == "cuda":
        info["cupy"] = bk.xp.__version__
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info


def matmul_peak_gflops(bk, n: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of an n x n x n matmul on this backend (2 n^3 FLOPs)."""
    xp = bk.xp
    rng = np.random.default_rng(0)
    a = bk.asarray(rng.standard_normal((n, n), dtype=np.float32))
    b = bk.asarray(rng.standard_normal((n, n), dtype=np.float32))
    out = xp.empty((n, n), dtype=np.float32)
    seconds = best_of(lambda: xp.matmul(a, b, out=out), repeats, sync=bk.synchronize)
    return 2 * n ** 3 / seconds / 1e9
