"""Dropout module: the step buffer, fresh masks per step, replay, eval identity."""
import numpy as np
import pytest

from p2p_cupy import nn


def test_dropout_step_advances_and_each_step_draws_a_new_mask(bk):
    layer = nn.Dropout(0.5, seed=11)
    x = bk.asarray(np.ones((1, 4, 16, 16), np.float32))
    assert layer.step.dtype == np.int64 and layer.step.shape == ()
    first = bk.to_numpy(layer.forward(x))
    second = bk.to_numpy(layer.forward(x))
    assert int(bk.to_numpy(layer.step)) == 2
    assert 0.4 < np.mean(first == second) < 0.6
    # restoring the step (e.g. from a checkpoint) replays the same mask
    layer.load_state_dict({"step": np.array(0, np.int64)})
    assert np.array_equal(bk.to_numpy(layer.forward(x)), first)


def test_dropout_backward_uses_the_forward_mask(bk):
    layer = nn.Dropout(0.5, seed=1)
    x = bk.asarray(np.ones((2, 3, 4, 4)))
    y = bk.to_numpy(layer.forward(x))
    dx = bk.to_numpy(layer.backward(bk.asarray(np.full((2, 3, 4, 4), 3.0))))
    assert np.array_equal(dx, 3.0 * y)


def test_dropout_eval_is_identity_and_keeps_the_step(bk):
    layer = nn.Dropout(0.5).eval()
    x = bk.asarray(np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2))
    assert np.array_equal(bk.to_numpy(layer.forward(x)), bk.to_numpy(x))
    assert np.array_equal(bk.to_numpy(layer.backward(x)), bk.to_numpy(x))
    assert int(bk.to_numpy(layer.step)) == 0


def test_dropout_rejects_bad_probability():
    with pytest.raises(ValueError, match="Dropout: expected 0 <= p < 1, got 1"):
        nn.Dropout(1)
