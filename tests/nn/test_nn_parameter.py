"""Parameter: gradients accumulate into one reused buffer; zero_grad restarts the sum.
load_state_dict refuses a state that does not fit."""
import numpy as np
import pytest

from p2p_cupy.nn.module import Parameter


def test_gradients_accumulate_and_zero_grad_restarts_the_sum(bk):
    p = Parameter(bk.xp.ones((2, 3), dtype=np.float32))
    assert p.grad is None
    first = bk.xp.full((2, 3), 2.0, dtype=np.float32)
    p.accumulate(first)
    p.accumulate(bk.xp.full((2, 3), 3.0, dtype=np.float32))
    np.testing.assert_array_equal(bk.to_numpy(p.grad), np.full((2, 3), 5.0))
    np.testing.assert_array_equal(bk.to_numpy(first), np.full((2, 3), 2.0))   # not aliased
    buffer = p.grad
    p.zero_grad()
    p.accumulate(bk.xp.full((2, 3), 7.0, dtype=np.float32))
    assert p.grad is buffer                                   # the same buffer, reused
    np.testing.assert_array_equal(bk.to_numpy(p.grad), np.full((2, 3), 7.0))


def test_a_zeroed_gradient_reads_as_zeros_before_any_accumulate(bk):
    p = Parameter(bk.xp.ones(4, dtype=np.float32))
    p.accumulate(bk.xp.full(4, 9.0, dtype=np.float32))
    p.zero_grad()
    np.testing.assert_array_equal(bk.to_numpy(p.grad), np.zeros(4))
    p.accumulate(bk.xp.full(4, 1.0, dtype=np.float32))       # adds onto the real zeros
    p.accumulate(bk.xp.full(4, 1.0, dtype=np.float32))
    np.testing.assert_array_equal(bk.to_numpy(p.grad), np.full(4, 2.0))


def test_assigning_grad_replaces_it_and_clears_the_zero_mark(bk):
    p = Parameter(bk.xp.ones(3, dtype=np.float32))
    p.zero_grad()
    p.grad = bk.xp.full(3, 4.0, dtype=np.float32)
    np.testing.assert_array_equal(bk.to_numpy(p.grad), np.full(3, 4.0))
    p.grad = None
    assert p.grad is None


def test_a_state_of_another_architecture_is_refused_in_one_short_line():
    """Loading a deeper U-Net's weights names a few of the keys that do not fit and how
    many more, not all of them (the message is one line of the CLI)."""
    from p2p_cupy.models import define_G
    small, deep = define_G("unet_32", ngf=2), define_G("unet_256", ngf=2)
    with pytest.raises(KeyError) as err:
        small.load_state_dict(deep.state_dict())
    message = str(err.value)
    assert "missing keys none; unexpected keys enc" in message and " more" in message
    assert len(message) < 300
