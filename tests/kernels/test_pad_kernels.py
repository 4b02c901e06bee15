"""kernels/pad.cu launched directly: the reflection pad against np.pad, its gradient
against a NumPy scatter, in both thread and block orders on emu (and on cuda)."""
import numpy as np
import pytest

from p2p_cupy.kernels.loader import thread_order


def _scatter_gradient(dy, h, w, p):
    """dx[reflect(r - p), reflect(q - p)] += dy[r, q], one np.add.at over the index maps."""
    rows = np.abs(np.arange(h + 2 * p) - p)
    rows = np.where(rows >= h, 2 * (h - 1) - rows, rows)
    cols = np.abs(np.arange(w + 2 * p) - p)
    cols = np.where(cols >= w, 2 * (w - 1) - cols, cols)
    dx = np.zeros(dy.shape[:2] + (h, w), np.float64)
    np.add.at(dx, (slice(None), slice(None), rows[:, None], cols[None, :]), dy)
    return dx


@pytest.mark.parametrize("order", ["forward", "reverse"])
@pytest.mark.parametrize("h,w,p", [(7, 5, 3), (4, 9, 1), (3, 3, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reflect_pad_kernels_match_numpy(kernel_bk, order, h, w, p, dtype, rng):
    bk = kernel_bk
    x = rng.standard_normal((2, 3, h, w)).astype(dtype)
    dy = rng.standard_normal((2, 3, h + 2 * p, w + 2 * p)).astype(dtype)
    geometry = tuple(np.int32(v) for v in (2, 3, h, w, p))     # images, channels, ...
    y, dx = bk.xp.empty(dy.shape, dtype), bk.xp.empty(x.shape, dtype)
    # A plane grid smaller than the work in every dimension: 2 x 16 threads per plane, 2 of
    # the 3 channels, 1 of the 2 images, so each thread loops (grid stride) along x, y and z.
    grid, block = (2, 2, 1), (16,)
    with thread_order(order):
        bk.kernel("pad", "reflect_pad_fwd", dtype)(grid, block, (bk.asarray(x), y) + geometry)
        bk.kernel("pad", "reflect_pad_bwd", dtype)(grid, block, (bk.asarray(dy), dx) + geometry)
    np.testing.assert_array_equal(bk.to_numpy(y),
                                  np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="reflect"))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(bk.to_numpy(dx), _scatter_gradient(dy.astype(np.float64), h, w, p),
                               rtol=tol, atol=tol)
