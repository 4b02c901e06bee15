"""Channel concat and its gradient split."""
import numpy as np
import pytest

from p2p_cupy.ops.concat import concat_backward, concat_forward


@pytest.mark.parametrize("batch", [1, 3])
def test_concat_round_trip(bk, rng, batch):
    a = rng.standard_normal((batch, 2, 4, 5)).astype(np.float32)
    b = rng.standard_normal((batch, 3, 4, 5)).astype(np.float32)
    y, cache = concat_forward([bk.asarray(a), bk.asarray(b)])
    assert np.array_equal(bk.to_numpy(y), np.concatenate([a, b], axis=1))
    da, db = concat_backward(y, cache)                 # the gradient split undoes the concat
    assert np.array_equal(bk.to_numpy(da), a) and np.array_equal(bk.to_numpy(db), b)
    assert da.flags.c_contiguous and db.flags.c_contiguous


def test_concat_rejects_mismatched_spatial_size(bk):
    with pytest.raises(ValueError, match=r"concat: .*\(1, 2, 4, 4\).*\(1, 2, 4, 5\)"):
        concat_forward([bk.asarray(np.zeros((1, 2, 4, 4))), bk.asarray(np.zeros((1, 2, 4, 5)))])
