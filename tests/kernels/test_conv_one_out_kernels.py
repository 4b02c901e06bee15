"""kernels/conv_one_out.cu (a 4x4 conv with one output channel, no column matrix) through
ops/conv.py, against the NumPy path: forward, dx, dw (two-kernel sum) and db; emu in both
block orders (and cuda)."""
import numpy as np
import pytest

from p2p_cupy import backend
from p2p_cupy.ops import conv, conv_kernels

TOL = {np.float32: 2e-5, np.float64: 1e-12}


def _numpy_conv(x, w, b, s, p, dy):
    with backend.using("numpy"):
        y, cache = conv.conv2d_forward(x, w, b, s, p)
        return (y,) + conv.conv2d_backward(dy, cache)


# (3, 5, 9, 11) at stride 1: 24 rows of output pixels -> 3 slices of dw partial sums, and
# odd widths (a partly filled 32-pixel block); stride 2 without padding leaves x's last
# row unreached (its dx is 0)
@pytest.mark.parametrize("s,p", [(1, 1), (2, 0), (2, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_output_channel_conv_matches_the_numpy_path(ordered_kernel_bk, s, p, dtype, rng):
    bk = ordered_kernel_bk
    x = rng.standard_normal((3, 5, 9, 11)).astype(dtype)
    w = rng.standard_normal((1, 5, 4, 4)).astype(dtype)
    b = rng.standard_normal(1).astype(dtype)
    ho, wo = (9 + 2 * p - 4) // s + 1, (11 + 2 * p - 4) // s + 1
    dy = rng.standard_normal((3, 1, ho, wo)).astype(dtype)
    if s == 1:
        assert conv_kernels.one_out_slices(3 * ho, 5) == 3
    y, cache = conv.conv2d_forward(*(bk.asarray(a) for a in (x, w, b)), s, p)
    got = (y,) + conv.conv2d_backward(bk.asarray(dy), cache)
    for name, mine, ref in zip(("y", "dx", "dw", "db"), got, _numpy_conv(x, w, b, s, p, dy)):
        np.testing.assert_allclose(bk.to_numpy(mine), ref, rtol=TOL[dtype], atol=TOL[dtype],
                                   err_msg=name)


def test_without_bias_and_without_weight_grad(ordered_kernel_bk, rng):
    bk = ordered_kernel_bk
    x, w = rng.standard_normal((1, 3, 6, 6)), rng.standard_normal((1, 3, 4, 4))
    dy = rng.standard_normal((1, 1, 5, 5))
    y, cache = conv.conv2d_forward(bk.asarray(x), bk.asarray(w), None, 1, 1)
    dx, dw, db = conv.conv2d_backward(bk.asarray(dy), cache, need_weight_grad=False)
    ref_y, ref_dx, _, _ = _numpy_conv(x, w, None, 1, 1, dy)
    assert dw is None and db is None
    np.testing.assert_allclose(bk.to_numpy(y), ref_y, rtol=1e-12)
    np.testing.assert_allclose(bk.to_numpy(dx), ref_dx, rtol=1e-12, atol=1e-12)
