"""Dropout op: masks as a pure function of (seed, step, index); scaling; backward."""
import numpy as np

from p2p_cupy import philox
from p2p_cupy.ops.dropout import dropout_backward, dropout_forward


def _ones(bk, shape=(2, 8, 16, 16), dtype=np.float32):
    return bk.asarray(np.ones(shape, dtype))


def test_dropout_mask_is_a_function_of_seed_step_and_index(bk):
    x = _ones(bk)
    y1, _ = dropout_forward(x, 0.5, seed=7, step=3)
    y2, _ = dropout_forward(x, 0.5, seed=7, step=3)
    assert np.array_equal(bk.to_numpy(y1), bk.to_numpy(y2))
    # the mask of a smaller tensor is the prefix of the larger one (element index = flat index)
    y_small, _ = dropout_forward(_ones(bk, (100,)), 0.5, seed=7, step=3)
    assert np.array_equal(bk.to_numpy(y_small), bk.to_numpy(y1).reshape(-1)[:100])


def test_dropout_new_step_or_seed_gives_a_new_mask(bk):
    x = _ones(bk)
    base = bk.to_numpy(dropout_forward(x, 0.5, seed=7, step=3)[0])
    other_step = bk.to_numpy(dropout_forward(x, 0.5, seed=7, step=4)[0])
    other_seed = bk.to_numpy(dropout_forward(x, 0.5, seed=8, step=3)[0])
    # independent masks agree on about half the elements, identical ones on all
    assert 0.4 < np.mean(base == other_step) < 0.6
    assert 0.4 < np.mean(base == other_seed) < 0.6


def test_dropout_keeps_about_one_minus_p_and_scales_kept_values(bk):
    for p in (0.2, 0.5, 0.9):
        y = bk.to_numpy(dropout_forward(_ones(bk), p, seed=1, step=0)[0])
        kept = y != 0
        assert abs(kept.mean() - (1 - p)) < 0.02          # 8192 elements: sd ~ 0.005
        assert np.allclose(y[kept], np.float32(1 / (1 - p)))


def test_dropout_matches_the_philox_mapping_exactly(bk):
    x = bk.asarray(np.arange(1, 61, dtype=np.float64).reshape(1, 3, 4, 5))
    y = bk.to_numpy(dropout_forward(x, 0.3, seed=2**40 + 5, step=9)[0]).reshape(-1)
    keep = philox.dropout_keep_mask(60, 0.3, 2**40 + 5, 9)
    expected = np.where(keep, np.arange(1, 61) * (1 / 0.7), 0.0)
    assert np.array_equal(y, expected)


def test_dropout_p_zero_is_identity_and_backward_uses_the_same_mask(bk):
    rng = np.random.default_rng(0)
    x = bk.asarray(rng.standard_normal((2, 3, 4, 4)))
    y, _ = dropout_forward(x, 0.0, seed=0, step=0)
    assert np.array_equal(bk.to_numpy(y), bk.to_numpy(x))
    y, cache = dropout_forward(x, 0.5, seed=0, step=0)
    dy = bk.asarray(rng.standard_normal((2, 3, 4, 4)))
    dx = bk.to_numpy(dropout_backward(dy, cache))
    # y is linear in x with the mask as its diagonal: dx = dy * y / x
    assert np.allclose(dx, bk.to_numpy(dy) * bk.to_numpy(y) / bk.to_numpy(x))
