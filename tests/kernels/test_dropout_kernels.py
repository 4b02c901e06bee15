"""kernels/dropout.cu: its masks are bit-identical to p2p_cupy/philox.py's for the same
(seed, step, index), including seeds and steps above 2**32 and sizes not a multiple of 4."""
import numpy as np
import pytest

from p2p_cupy import philox


@pytest.mark.parametrize("seed,step", [(0, 0), (1234, 7), (2**40 + 5, 2**33 + 9)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_mask_is_bit_identical_to_philox_py(kernel_bk, seed, step, dtype, rng):
    bk = kernel_bk
    n, p = 1003, 0.5
    x = rng.standard_normal(n).astype(dtype)
    y, mask = bk.xp.empty(n, dtype), bk.xp.empty(n, dtype)
    bk.kernel("dropout", "dropout_fwd", dtype)(
        (1,), (128,), (bk.asarray(x), y, mask, np.int64(n), np.uint64(seed),
                       bk.asarray(np.array([step], np.int64)),
                       np.uint32(philox.keep_threshold(p)), dtype(1 / (1 - p))))
    keep = philox.dropout_keep_mask(n, p, seed, step)
    scale = dtype(1 / (1 - p))
    np.testing.assert_array_equal(bk.to_numpy(mask), np.where(keep, scale, 0).astype(dtype))
    np.testing.assert_array_equal(bk.to_numpy(y), x * np.where(keep, scale, 0).astype(dtype))
    assert 0.4 < keep.mean() < 0.6
    dy = rng.standard_normal(n).astype(dtype)
    dx = bk.xp.empty(n, dtype)
    bk.kernel("dropout", "dropout_bwd", dtype)((2,), (64,), (bk.asarray(dy), mask, dx, np.int64(n)))
    np.testing.assert_array_equal(bk.to_numpy(dx), dy * bk.to_numpy(mask))
