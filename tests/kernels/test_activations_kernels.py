"""kernels/activations.cu launched directly, against NumPy formulas, on emu (and cuda)."""
import numpy as np
import pytest

from p2p_cupy.kernels.loader import thread_order

TOL = {np.float32: 1e-5, np.float64: 1e-12}
SLOPE = 0.2
FORWARD = {
    "leaky_relu": lambda x: np.where(x > 0, x, SLOPE * x),
    "relu": lambda x: np.maximum(x, 0),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}
BACKWARD = {   # dx from dy and the forward's output y
    "leaky_relu": lambda dy, y: np.where(y > 0, dy, SLOPE * dy),
    "relu": lambda dy, y: np.where(y > 0, dy, 0),
    "tanh": lambda dy, y: dy * (1 - y * y),
    "sigmoid": lambda dy, y: dy * y * (1 - y),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(FORWARD))
def test_activation_kernels_match_numpy(kernel_bk, name, dtype, rng):
    n = 1001                                    # not a multiple of the block size
    x = (rng.standard_normal(n) * 4).astype(dtype)
    x[:3] = (0.0, 50.0, -50.0)                  # zero and saturating inputs (sigmoid's exp)
    dy = rng.standard_normal(n).astype(dtype)
    extra = (dtype(SLOPE),) if name == "leaky_relu" else ()
    xs, dys = kernel_bk.asarray(x), kernel_bk.asarray(dy)
    y, dx = kernel_bk.xp.empty_like(xs), kernel_bk.xp.empty_like(xs)
    # a grid of 2 blocks of 128 threads: each thread loops over several elements
    forward = kernel_bk.kernel("activations", f"{name}_fwd", dtype)
    backward = kernel_bk.kernel("activations", f"{name}_bwd", dtype)
    forward((2,), (128,), (xs, y, np.int64(n)) + extra)
    backward((2,), (128,), (dys, y, dx, np.int64(n)) + extra)
    y_host = kernel_bk.to_numpy(y)
    np.testing.assert_allclose(y_host, FORWARD[name](x), rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(kernel_bk.to_numpy(dx), BACKWARD[name](dy, y_host),
                               rtol=TOL[dtype], atol=TOL[dtype])


def test_activation_kernel_is_independent_of_thread_order(rng):
    from p2p_cupy import backend
    try:
        emu = backend.get_backend("emu")
    except backend.BackendUnavailable as e:
        pytest.skip(str(e))
    x = rng.standard_normal(300).astype(np.float32)
    outs = []
    for order in ("forward", "reverse"):
        y = np.full_like(x, np.nan)
        with thread_order(order):
            emu.kernel("activations", "sigmoid_fwd", np.float32)(
                (3,), (64,), (x, y, np.int64(x.size)))
        outs.append(y)
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.isnan(outs[0]).any()
