"""What nvcc can prove without a GPU, for every kernels/*.cu (and the test kernels here):

* it compiles for sm_80 and sm_90 (g++, the emulator, accepts some code nvcc rejects);
* ptxas reports no register spills in any kernel (spilled registers live in local memory,
  off chip);
* the PTX of the conv, batch-norm and padding kernels, the memory-bound hot paths, holds
  no 64-bit integer division or remainder (tens of instructions each, once per element
  they would cost more than the loads they index).

One nvcc run per file and architecture (-Xptxas -v, keeping the PTX) serves all three.
Skipped, with the reason shown (pytest -rs), where nvcc is not installed.
"""
import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from p2p_cupy.inspection.kernels import parse_ptxas
from p2p_cupy.kernels.loader import KERNELS_DIR

HERE = Path(__file__).resolve().parent
SOURCES = sorted(KERNELS_DIR.glob("*.cu")) + sorted(HERE.glob("*.cu"))
NVCC = shutil.which("nvcc")
ARCHS = ["sm_80", "sm_90"]
NO_WIDE_DIVISION = ("conv", "conv_one_out", "batch_norm", "pad")   # kernels/<family>.cu
WIDE_DIVISION = re.compile(r"^\s*(?:div|rem)\.[su]64\b", re.M)
needs_nvcc = pytest.mark.skipif(NVCC is None,
                                reason="nvcc not installed: CUDA sources not compile-checked")


@functools.lru_cache(maxsize=None)
def nvcc(source: Path, arch: str):
    """(return code, nvcc's output, the PTX text) of compiling `source` for `arch`."""
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [NVCC, "-std=c++17", f"-I{KERNELS_DIR}", f"-I{source.parent}", f"-arch={arch}",
             "-cubin", "-Werror", "all-warnings", "-Xptxas", "-v", "--keep", "--keep-dir", tmp,
             str(source), "-o", str(Path(tmp) / "k.cubin")],
            capture_output=True, text=True)
        ptx = Path(tmp) / f"{source.stem}.ptx"
        return done.returncode, done.stdout + done.stderr, ptx.read_text() if ptx.exists() else ""


def ptx_functions(ptx: str) -> dict:
    """{entry name: its PTX text}."""
    parts = re.split(r"^\s*\.(?:visible\s+)?\.entry\s+(\w+)", ptx, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


@needs_nvcc
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_kernel_source_compiles_with_nvcc_without_spills(source, arch):
    code, output, _ = nvcc(source, arch)
    assert code == 0, f"nvcc -arch={arch} rejected {source}:\n{output}"
    kernels = parse_ptxas(output, source.name)
    assert kernels, f"ptxas -v reported no entry function for {source}"
    spilling = [k.kernel for k in kernels if k.spill_stores or k.spill_loads]
    assert not spilling, f"{source.name} ({arch}): register spills in {spilling}"


@needs_nvcc
@pytest.mark.parametrize("family", NO_WIDE_DIVISION)
def test_hot_kernels_have_no_64_bit_division(family):
    code, output, ptx = nvcc(KERNELS_DIR / f"{family}.cu", "sm_90")
    assert code == 0, output
    functions = ptx_functions(ptx)
    assert functions, f"no .entry found in the PTX of {family}.cu"
    dividing = {name: WIDE_DIVISION.findall(body) for name, body in functions.items()}
    assert not {n: d for n, d in dividing.items() if d}, \
        f"64-bit div/rem in {family}.cu: {[n for n, d in dividing.items() if d]}"


def test_the_lint_sees_a_64_bit_division():
    """The PTX pattern and the entry split, on the lines nvcc writes."""
    ptx = ("\n.visible .entry divides(\n)\n{\n\tdiv.s64 \t%rd5, %rd3, %rd4;\n}\n"
           ".visible .entry clean(\n)\n{\n\tdiv.s32 \t%r5, %r3, %r4;\n\tmul.wide.s32 %rd1;\n}\n")
    functions = ptx_functions(ptx)
    assert set(functions) == {"divides", "clean"}
    assert WIDE_DIVISION.findall(functions["divides"]) and not WIDE_DIVISION.findall(functions["clean"])
