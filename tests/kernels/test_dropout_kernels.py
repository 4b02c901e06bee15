"""kernels/dropout.cu: its masks are bit-identical to p2p_cupy/philox.py's for the same
(seed, step, index), including seeds and steps above 2**32 and sizes not a multiple of 4,
and for a batch placed in a larger one (a data-parallel rank's share)."""
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
                       np.uint32(philox.keep_threshold(p)), dtype(1 / (1 - p)),
                       np.int64(n), np.int64(0), np.int64(1)))
    keep = philox.dropout_keep_mask(n, p, seed, step)
    scale = dtype(1 / (1 - p))
    np.testing.assert_array_equal(bk.to_numpy(mask), np.where(keep, scale, 0).astype(dtype))
    np.testing.assert_array_equal(bk.to_numpy(y), x * np.where(keep, scale, 0).astype(dtype))
    assert 0.4 < keep.mean() < 0.6
    dy = rng.standard_normal(n).astype(dtype)
    dx = bk.xp.empty(n, dtype)
    bk.kernel("dropout", "dropout_bwd", dtype)((2,), (64,), (bk.asarray(dy), mask, dx, np.int64(n)))
    np.testing.assert_array_equal(bk.to_numpy(dx), dy * bk.to_numpy(mask))


@pytest.mark.parametrize("shape", [(3, 8, 2, 2), (2, 3, 1, 3)])   # per sample: 32, 9 (not 4k)
@pytest.mark.parametrize("placement", [(1, 2), (2, 3)])
def test_a_placed_batch_takes_its_samples_masks_in_the_larger_batch(kernel_bk, shape, placement,
                                                                    rng):
    bk = kernel_bk
    n, p, seed, step = int(np.prod(shape)), 0.5, 99, 5
    x = rng.standard_normal(shape).astype(np.float32)
    y, mask = bk.xp.empty(shape, np.float32), bk.xp.empty(shape, np.float32)
    bk.kernel("dropout", "dropout_fwd", np.float32)(
        (2,), (32,), (bk.asarray(x), y, mask, np.int64(n), np.uint64(seed),
                      bk.asarray(np.array([step], np.int64)), np.uint32(philox.keep_threshold(p)),
                      np.float32(2), np.int64(n // shape[0]), np.int64(placement[0]),
                      np.int64(placement[1])))
    keep = philox.placed_keep_mask(shape, p, seed, step, placement)
    np.testing.assert_array_equal(bk.to_numpy(mask), np.where(keep, 2, 0).astype(np.float32))
