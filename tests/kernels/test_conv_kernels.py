"""kernels/conv.cu launched directly: im2col against a NumPy loop, col2im as its exact
adjoint, bias add and bias gradient, on emu (and cuda)."""
import numpy as np
import pytest

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


def _geometry(x_shape, k, s, p, out_hw):
    return tuple(np.int32(v) for v in (*x_shape, k, s, p, *out_hw))


# k, stride, padding: pix2pix's 4/2/1, a stride that leaves rows unreached, a 1x1
@pytest.mark.parametrize("k,s,p", [(4, 2, 1), (3, 2, 0), (1, 1, 0), (5, 3, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_and_its_adjoint_col2im(kernel_bk, k, s, p, dtype, rng):
    bk = kernel_bk
    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
    ref_cols, out_hw = _im2col_reference(x, k, s, p)
    cols = bk.xp.empty(ref_cols.shape, dtype)
    bk.kernel("conv", "im2col_fwd", dtype)((3,), (128,), (bk.asarray(x), cols)
                                           + _geometry(x.shape, k, s, p, out_hw))
    np.testing.assert_array_equal(bk.to_numpy(cols), ref_cols)      # a pure copy: exact
    # col2im is the adjoint: <im2col(x), c> == <x, col2im(c)> for any c
    c = rng.standard_normal(ref_cols.shape).astype(dtype)
    back = bk.xp.empty(x.shape, dtype)
    bk.kernel("conv", "im2col_bwd", dtype)((3,), (128,), (bk.asarray(c), back)
                                           + _geometry(x.shape, k, s, p, out_hw))
    lhs = float((ref_cols.astype(np.float64) * c).sum())
    rhs = float((x.astype(np.float64) * bk.to_numpy(back)).sum())
    assert abs(lhs - rhs) <= TOL[dtype] * 10 * np.abs(ref_cols * c).sum()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_add_and_bias_gradient(kernel_bk, dtype, rng):
    bk = kernel_bk
    y = rng.standard_normal((3, 4, 7, 11)).astype(dtype)   # 231 values per channel
    b = rng.standard_normal(4).astype(dtype)
    y_dev = bk.asarray(y.copy())   # emu: asarray would alias y itself
    bk.kernel("conv", "bias_fwd", dtype)((2,), (128,), (y_dev, bk.asarray(b), np.int64(y.size),
                                                        np.int32(4), np.int32(77)))
    np.testing.assert_allclose(bk.to_numpy(y_dev), y + b[:, None, None], rtol=TOL[dtype])
    db = bk.xp.empty(4, dtype)
    bk.kernel("conv", "bias_bwd", dtype)((4,), (64,), (bk.asarray(y), db, np.int32(3),
                                                       np.int32(4), np.int32(77)))
    np.testing.assert_allclose(bk.to_numpy(db), y.astype(np.float64).sum(axis=(0, 2, 3)),
                               rtol=TOL[dtype], atol=TOL[dtype])
