"""Reflection padding against a direct-loop oracle written here (and PyTorch's, where
installed): forward values, and the backward as the exact adjoint of the forward."""
import itertools

import numpy as np
import pytest

from p2p_cupy import nn
from p2p_cupy.ops.pad import reflection_pad2d_backward, reflection_pad2d_forward


def reflect(t, size):
    return -t if t < 0 else (2 * (size - 1) - t if t >= size else t)


def naive_reflection_pad(x, p, dy=None):
    """y[r, q] = x[reflect(r - p), reflect(q - p)]; with dy also the adjoint's scatter."""
    n, c, h, w = x.shape
    y = np.empty((n, c, h + 2 * p, w + 2 * p))
    dx = np.zeros(x.shape)
    for r, q in itertools.product(range(h + 2 * p), range(w + 2 * p)):
        i, j = reflect(r - p, h), reflect(q - p, w)
        y[:, :, r, q] = x[:, :, i, j]
        if dy is not None:
            dx[:, :, i, j] += dy[:, :, r, q]
    return y if dy is None else (y, dx)


# the ResNet generator's pads (3 around 7x7 convs, 1 in the blocks), p = 0, and the
# largest legal pad (H - 1), where the leading and trailing mirrors read the same rows
@pytest.mark.parametrize("shape,p", [((2, 3, 7, 5), 1), ((1, 2, 8, 9), 3), ((2, 1, 4, 6), 3),
                                     ((1, 2, 3, 3), 2), ((1, 1, 2, 5), 1), ((2, 2, 5, 4), 0)])
def test_reflection_pad_forward_and_backward_match_direct_loops(bk, rng, shape, p):
    x = rng.standard_normal(shape)
    y_ref = naive_reflection_pad(x, p)
    dy = rng.standard_normal(y_ref.shape)
    _, dx_ref = naive_reflection_pad(x, p, dy)
    y, cache = reflection_pad2d_forward(bk.asarray(x), p)
    np.testing.assert_array_equal(bk.to_numpy(y), y_ref)               # a copy: exact
    dx = reflection_pad2d_backward(bk.asarray(dy), cache)
    assert dx.shape == x.shape
    np.testing.assert_allclose(bk.to_numpy(dx), dx_ref, rtol=1e-12, atol=1e-12)


def test_reflection_pad_float32_stays_float32(bk, rng):
    x = rng.standard_normal((1, 2, 6, 5)).astype(np.float32)
    y, cache = reflection_pad2d_forward(bk.asarray(x), 2)
    dx = reflection_pad2d_backward(y, cache)
    assert y.dtype == np.float32 and dx.dtype == np.float32


def test_reflection_pad_matches_torch(bk, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 6, 5))
    ref = torch.nn.ReflectionPad2d(3)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(bk.to_numpy(nn.ReflectionPad2d(3).forward(bk.asarray(x))), ref)


def test_reflection_pad_refuses_a_pad_as_large_as_the_image(bk):
    with pytest.raises(ValueError, match=r"padding 3 needs height and width of at least 4, "
                                         r"got \(3, 8\)"):
        reflection_pad2d_forward(bk.asarray(np.zeros((1, 1, 3, 8))), 3)
