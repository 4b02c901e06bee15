"""kernels/adam.cu: the fused update against Adam's formula, over three steps, with the step
count, lr and bias corrections in device memory advanced by adam_advance."""
import math

import numpy as np
import pytest

TOL = {np.float32: 1e-5, np.float64: 1e-12}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_adam_matches_the_formula(kernel_bk, dtype, rng):
    bk = kernel_bk
    n, lr, b1, b2, eps = 777, 2e-4, 0.5, 0.999, 1e-8
    p = rng.standard_normal(n).astype(dtype)
    ref_p, ref_m, ref_v = p.astype(np.float64), np.zeros(n), np.zeros(n)
    p_dev = bk.asarray(p.copy())
    m_dev, v_dev = bk.asarray(np.zeros(n, dtype)), bk.asarray(np.zeros(n, dtype))
    hyper = bk.asarray(np.array([0.0, lr, np.nan, np.nan]))     # t, lr, corrections
    for t in range(1, 4):
        g = rng.standard_normal(n).astype(dtype)
        bk.kernel("adam", "adam_advance", np.float64)((1,), (32,), (hyper, np.float64(b1), np.float64(b2)))
        step_size, inv_sqrt_bc2 = lr / (1 - b1 ** t), 1 / math.sqrt(1 - b2 ** t)
        # emu's pow is the host's: bit for bit; CUDA's pow may differ in the last bit
        np.testing.assert_allclose(bk.to_numpy(hyper), [t, lr, step_size, inv_sqrt_bc2],
                                   rtol=0 if bk.name == "emu" else 1e-15)
        bk.kernel("adam", "adam_fwd", dtype)(
            (2,), (128,), (p_dev, bk.asarray(g), m_dev, v_dev, np.int64(n))
            + tuple(np.float64(s) for s in (b1, b2, eps)) + (hyper,))
        ref_m = b1 * ref_m + (1 - b1) * g
        ref_v = b2 * ref_v + (1 - b2) * g.astype(np.float64) ** 2
        ref_p -= step_size * ref_m / (np.sqrt(ref_v) * inv_sqrt_bc2 + eps)
    np.testing.assert_allclose(bk.to_numpy(m_dev), ref_m, rtol=TOL[dtype] * 10, atol=TOL[dtype])
    np.testing.assert_allclose(bk.to_numpy(v_dev), ref_v, rtol=TOL[dtype] * 10, atol=TOL[dtype])
    np.testing.assert_allclose(bk.to_numpy(p_dev), ref_p, rtol=TOL[dtype], atol=TOL[dtype])
    assert not np.allclose(bk.to_numpy(p_dev), p)     # it did move
