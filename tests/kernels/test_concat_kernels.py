"""kernels/concat.cu launched directly: copies into and out of a channel slice."""
import numpy as np
import pytest


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_concat_slice_copies_both_ways(kernel_bk, dtype, rng):
    bk = kernel_bk
    part = rng.standard_normal((3, 2, 5, 7)).astype(dtype)
    out = bk.asarray(np.full((3, 6, 5, 7), -1, dtype))      # the part goes to channels 3..4
    args = (np.int64(part.size), np.int64(2 * 35), np.int64(6 * 35), np.int64(3 * 35))
    bk.kernel("concat", "concat_fwd", dtype)((1,), (64,), (bk.asarray(part), out) + args)
    expected = np.full((3, 6, 5, 7), -1, dtype)
    expected[:, 3:5] = part
    np.testing.assert_array_equal(bk.to_numpy(out), expected)   # nothing outside the slice
    back = bk.xp.empty(part.shape, dtype)
    bk.kernel("concat", "concat_bwd", dtype)((1,), (64,), (out, back) + args)
    np.testing.assert_array_equal(bk.to_numpy(back), part)
