"""kernels/loader.py: lazy builds cached by content hash, compile errors, signatures."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from p2p_cupy.kernels.loader import KernelCompileError, KernelModules
from p2p_cupy.kernels.signature import parse_signatures

FILL_CU = '''#include "common.cuh"
#include "value.cuh"
extern "C" __global__ void fill(float* __restrict__ y) { y[threadIdx.x] = fill_value(); }
'''


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "p2p_cupy" / "emu"


def fill(source_dir):
    y = np.zeros(32, np.float32)
    KernelModules("emu", source_dir=source_dir).get_function("fill", "fill")((1,), (32,), (y,))
    return y


def test_editing_an_included_header_rebuilds_the_library(tmp_path, cache):
    (tmp_path / "fill.cu").write_text(FILL_CU)
    header = tmp_path / "value.cuh"
    header.write_text("__device__ float fill_value() { return 1.0f; }\n")
    assert (fill(tmp_path) == 1).all()
    assert (fill(tmp_path) == 1).all()  # unchanged sources: the cached library is reused
    assert len(list(cache.glob("fill-*.so"))) == 1
    header.write_text("__device__ float fill_value() { return 2.0f; }\n")
    assert (fill(tmp_path) == 2).all()
    assert len(list(cache.glob("fill-*.so"))) == 2


def test_compile_errors_name_the_kernel_file_and_line(tmp_path, cache):
    (tmp_path / "broken.cu").write_text(
        '#include "common.cuh"\n\nextern "C" __global__ void broken(float* y) {\n'
        "    y[0] = undeclared_name;\n}\n")
    with pytest.raises(KernelCompileError, match=r"broken\.cu:4:\d+: error: .undeclared_name"):
        KernelModules("emu", source_dir=tmp_path).get_function("broken", "broken")


def test_unsupported_cuda_features_do_not_compile(tmp_path, cache):
    (tmp_path / "fence.cu").write_text(
        '#include "common.cuh"\nextern "C" __global__ void fence(float* y) {\n'
        "    y[threadIdx.x] = 1.0f;\n    __threadfence();\n}\n")
    with pytest.raises(KernelCompileError, match=r"fence\.cu:4:.*poisoned \"__threadfence\""):
        KernelModules("emu", source_dir=tmp_path).get_function("fence", "fence")


def test_unknown_family_or_kernel_names_what_exists():
    modules = KernelModules("emu", source_dir=Path(__file__).parent)
    with pytest.raises(ValueError, match="no_such_family.cu does not exist"):
        modules.get_function("no_such_family", "x")
    with pytest.raises(ValueError, match=r"no kernel 'matmul_tiled_f16' \(exported: matmul_tiled_f32, matmul_tiled_f64"):
        modules.get_function("matmul_tiled", "matmul_tiled_f16")


def test_signatures_are_read_from_extern_c_kernels():
    source = '''
    // extern "C" __global__ void commented_out(int n) {}
    template <typename T> __device__ void helper(T* x) {}
    extern "C" __global__ void __launch_bounds__(256)
    k_f32(const float* __restrict__ x, float *y,
          int n, unsigned int seed, double scale) { }
    '''
    sigs = parse_signatures(source, "k.cu")
    assert list(sigs) == ["k_f32"]
    k = sigs["k_f32"]
    assert k.max_threads == 256
    assert [p.describe() for p in k.params] == [
        "const float* x", "float* y", "int n", "unsigned int seed", "double scale"]
    assert [p.dtype for p in k.params] == [np.float32, np.float32, np.int32, np.uint32, np.float64]


@pytest.mark.parametrize("param", ["size_t n", "float2* v", "const int n", "T* x"])
def test_unsupported_parameter_types_are_refused(param):
    with pytest.raises(ValueError, match=r"k.cu: kernel k: .*'" + param.replace("*", r"\*")):
        parse_signatures(f'extern "C" __global__ void k({param}) {{}}', "k.cu")


def test_loader_imports_without_cupy():
    """Importing the loader and building a cuda KernelModules must not import CuPy."""
    code = ("import sys; from p2p_cupy.kernels.loader import KernelModules; "
            "KernelModules('cuda'); assert 'cupy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
