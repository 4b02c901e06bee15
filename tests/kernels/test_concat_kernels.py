"""kernels/concat.cu launched directly: copies into and out of a channel slice, one image
per grid row; emu in both block orders."""
import numpy as np
import pytest


# 5 x 7 planes: runs of 70 elements (a tail after the packs of 4); a slice starting at
# channel 3 sits at an offset of 105 elements, not 16-byte aligned (the scalar path)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("start", [3, 4])
def test_concat_slice_copies_both_ways(ordered_kernel_bk, dtype, start, rng):
    bk = ordered_kernel_bk
    part = rng.standard_normal((3, 2, 5, 7)).astype(dtype)
    out = bk.asarray(np.full((3, 7, 5, 7), -1, dtype))      # the part goes to channels start..
    args = (np.int32(3), np.int64(2 * 35), np.int64(7 * 35), np.int64(start * 35))
    bk.kernel("concat", "concat_fwd", dtype)((1, 2), (64,), (bk.asarray(part), out) + args)
    expected = np.full((3, 7, 5, 7), -1, dtype)
    expected[:, start:start + 2] = part
    np.testing.assert_array_equal(bk.to_numpy(out), expected)   # nothing outside the slice
    back = bk.xp.empty(part.shape, dtype)
    bk.kernel("concat", "concat_bwd", dtype)((1, 2), (64,), (out, back) + args)
    np.testing.assert_array_equal(bk.to_numpy(back), part)
