"""kernels/conv.cu launched as ops/conv_kernels.py launches it: im2col against a NumPy
loop, col2im against NumPy's scatter-add, the unrolled 4x4 kernels against the generic
ones bit for bit, bias add and gradient; emu in both block orders (and cuda)."""
import numpy as np
import pytest

from p2p_cupy.ops import conv_kernels

TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _im2col_reference(x, k, s, p):
    n, c, h, w = x.shape
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    xp_ = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = np.empty((c, k, k, n, ho, wo), x.dtype)
    for u in range(k):
        for v in range(k):
            cols[:, u, v] = xp_[:, :, u:u + s * ho:s, v:v + s * wo:s].transpose(1, 0, 2, 3)
    return cols.reshape(c * k * k, n * ho * wo), (ho, wo)


def _col2im_reference(cols, x_shape, k, s, p, out_hw):
    """Every column entry added back onto the padded pixel it was read from (float64)."""
    n, c, h, w = x_shape
    ho, wo = out_hw
    taps = cols.astype(np.float64).reshape(c, k, k, n, ho, wo)
    x_pad = np.zeros((n, c, h + 2 * p, w + 2 * p))
    for u in range(k):
        for v in range(k):
            x_pad[:, :, u:u + s * ho:s, v:v + s * wo:s] += taps[:, u, v].transpose(1, 0, 2, 3)
    return x_pad[:, :, p:p + h, p:p + w]


# k, stride, padding: pix2pix's 4/2/1 and 4/1/1 (unrolled kernels), 4/2 without padding,
# and generic ones: a stride that leaves rows unreached, a 1x1, a stride larger than 2.
CASES = [(4, 2, 1), (4, 1, 1), (4, 2, 0), (3, 2, 0), (1, 1, 0), (5, 3, 2)]


# (2, 3, 9, 8): odd height, rows that no 4x4 stride-2 window reaches; (1, 2, 1, 1): 1x1
@pytest.mark.parametrize("shape", [(2, 3, 9, 8), (1, 2, 3, 3)])
@pytest.mark.parametrize("k,s,p", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_and_col2im_match_numpy(ordered_kernel_bk, shape, k, s, p, dtype, rng):
    bk = ordered_kernel_bk
    if shape[2] + 2 * p < k:
        pytest.skip("image smaller than the kernel")
    x = rng.standard_normal(shape).astype(dtype)
    ref_cols, out_hw = _im2col_reference(x, k, s, p)
    cols = conv_kernels._im2col(bk, bk.asarray(x), k, s, p, out_hw)
    np.testing.assert_array_equal(bk.to_numpy(cols), ref_cols)      # a pure copy: exact
    c = rng.standard_normal(ref_cols.shape).astype(dtype)
    back = conv_kernels._col2im(bk, bk.asarray(c), shape, k, s, p, out_hw)
    np.testing.assert_allclose(bk.to_numpy(back), _col2im_reference(c, shape, k, s, p, out_hw),
                               rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("k,s,p", [(4, 2, 1), (4, 1, 1), (4, 2, 0)])
def test_unrolled_kernels_equal_the_generic_ones_bit_for_bit(ordered_kernel_bk, k, s, p, rng):
    bk = ordered_kernel_bk
    shape = (2, 3, 11, 10)
    x = rng.standard_normal(shape)
    _, out_hw = _im2col_reference(x, k, s, p)
    geometry = conv_kernels._conv_geometry(*shape, k, s, p, out_hw)
    generic_cols = bk.xp.empty((3 * k * k, 2 * out_hw[0] * out_hw[1]))
    bk.kernel("conv", "im2col_fwd", np.float64)((1, 12, 2), (128,), (bk.asarray(x), generic_cols)
                                                + geometry)
    cols = conv_kernels._im2col(bk, bk.asarray(x), k, s, p, out_hw)
    np.testing.assert_array_equal(bk.to_numpy(cols), bk.to_numpy(generic_cols))
    c = bk.asarray(rng.standard_normal(generic_cols.shape))
    generic_x = bk.xp.empty(shape)
    bk.kernel("conv", "im2col_bwd", np.float64)((1, 3, 2), (128,), (c, generic_x) + geometry)
    np.testing.assert_array_equal(bk.to_numpy(conv_kernels._col2im(bk, c, shape, k, s, p, out_hw)),
                                  bk.to_numpy(generic_x))


def test_sizes_beyond_32_bit_indices_are_refused():
    with pytest.raises(ValueError, match="32-bit index"):
        conv_kernels._conv_geometry(2**16, 3, 256, 256, 4, 1, 1, (256, 256))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_add_and_bias_gradient(ordered_kernel_bk, dtype, rng):
    bk = ordered_kernel_bk
    y = rng.standard_normal((3, 4, 7, 11)).astype(dtype)   # 77 values per plane: a tail
    b = rng.standard_normal(4).astype(dtype)
    y_dev = bk.asarray(y.copy())   # emu: asarray would alias y itself
    conv_kernels._add_bias(bk, y_dev, bk.asarray(b))
    np.testing.assert_allclose(bk.to_numpy(y_dev), y + b[:, None, None], rtol=TOL[dtype])
    db = conv_kernels._bias_grad(bk, bk.asarray(y))
    np.testing.assert_allclose(bk.to_numpy(db), y.astype(np.float64).sum(axis=(0, 2, 3)),
                               rtol=TOL[dtype], atol=TOL[dtype])
