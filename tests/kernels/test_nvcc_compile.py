"""Every kernels/*.cu (and the test kernels here) compiles with nvcc for sm_80 and sm_90.

g++ (the emulator) accepts some code nvcc rejects; this catches it on machines without a
GPU. Skipped, with the reason shown (pytest -rs), where nvcc is not installed.
"""
import shutil
import subprocess
from pathlib import Path

import pytest

from p2p_cupy.kernels.loader import KERNELS_DIR

HERE = Path(__file__).resolve().parent
SOURCES = sorted(KERNELS_DIR.glob("*.cu")) + sorted(HERE.glob("*.cu"))
NVCC = shutil.which("nvcc")


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed: CUDA sources not compile-checked")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_kernel_source_compiles_with_nvcc(source, arch, tmp_path):
    done = subprocess.run(
        [NVCC, "-std=c++17", f"-I{KERNELS_DIR}", f"-I{source.parent}", f"-arch={arch}",
         "-cubin", "-Werror", "all-warnings", str(source), "-o", str(tmp_path / "k.cubin")],
        capture_output=True, text=True)
    assert done.returncode == 0, f"nvcc -arch={arch} rejected {source}:\n{done.stderr}"
