"""The cuda backend's GEMM precision: TF32 is off unless asked for (skipped without a GPU)."""
import numpy as np
import pytest

from p2p_cupy import backend


def _cuda_or_skip():
    try:
        return backend.get_backend("cuda")
    except backend.BackendUnavailable as e:
        pytest.skip(f"backend cuda unavailable: {e}")


def _float32_gemm_error(cuda, rng):
    a, b = rng.standard_normal((256, 512)), rng.standard_normal((512, 256))
    product = cuda.to_numpy(cuda.xp.matmul(cuda.asarray(a, np.float32), cuda.asarray(b, np.float32)))
    exact = a.astype(np.float32).astype(np.float64) @ b.astype(np.float32).astype(np.float64)
    return np.abs(product - exact).max() / np.abs(exact).max()


def test_float32_gemms_are_full_precision_unless_tf32_is_set(rng):
    cuda = _cuda_or_skip()
    assert not cuda.tf32
    assert _float32_gemm_error(cuda, rng) < 1e-5          # TF32 would give ~1e-3
    try:
        cuda.set_tf32(True)
        assert cuda.tf32
    finally:
        cuda.set_tf32(False)
    assert _float32_gemm_error(cuda, rng) < 1e-5
