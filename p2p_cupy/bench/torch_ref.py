"""The PyTorch side of the comparisons: benchmarks/torch_reference.py, loaded by path from
the source checkout (it is not part of the installed package, and torch is never a
dependency: both are needed only for --compare torch)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import click

REFERENCE = Path(__file__).resolve().parents[2] / "benchmarks" / "torch_reference.py"


def import_torch():
    try:
        import torch
    except ImportError:
        raise click.ClickException("--compare torch needs PyTorch, which is not installed "
                                   "(pip install torch; it is never a dependency of "
                                   "p2p-cupy)") from None
    return torch


def load_reference(path: Path = REFERENCE):
    """(torch, the reference module); a ClickException says what is missing."""
    torch = import_torch()
    if not path.is_file():
        raise click.ClickException(f"--compare torch needs the PyTorch reference "
                                   f"benchmarks/torch_reference.py of the source checkout; "
                                   f"not found at {path}")
    spec = importlib.util.spec_from_file_location("p2p_torch_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return torch, module


def torch_device(torch, device: str) -> str:
    """Our --device in torch's words: cuda when we run on the GPU, else cpu.

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

