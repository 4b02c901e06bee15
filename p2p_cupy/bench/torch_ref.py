"""The PyTorch side of the comparisons: the reference pix2pix of torch_reference.py, which
ships in this package but is imported only when asked for, so torch is needed for
--compare torch and nothing else (it is never a dependency of p2p-cupy)."""
from __future__ import annotations

import importlib

from p2p_cupy.errors import P2PError


class TorchUnavailable(P2PError):
    """--compare torch on a machine without PyTorch."""


def import_torch():
    try:
        import torch
    except ImportError:
        raise TorchUnavailable("--compare torch needs PyTorch, which is not installed "
                               "(pip install torch; it is never a dependency of "
                               "p2p-cupy)") from None
    return torch


def load_reference():
    """(torch, the reference module p2p_cupy.bench.torch_reference)."""
    torch = import_torch()
    return torch, importlib.import_module("p2p_cupy.bench.torch_reference")


def torch_device(torch, device: str) -> str:
    """Our backend's name in torch's words: cuda when we run on the GPU, else cpu.

    On the GPU, PyTorch runs as a user would tune it (cudnn.benchmark picks the fastest conv
    algorithms) at our precision: IEEE float32, TF32 off for cuDNN convs and cuBLAS GEMMs
    alike (cuDNN allows TF32 by default; our GEMMs don't use it unless asked)."""
    if device == "cuda" and torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        return "cuda"
    return "cpu"


def torch_sync(torch, device: str):
    if device == "cuda":
        torch.cuda.synchronize()

