import numpy as np
import pytest

from p2p_cupy import backend
from p2p_cupy.gradcheck.check import check_problem, function_problem, module_problem
from p2p_cupy.nn import Module, Parameter


class ChannelScale(Module):
    """y = w[c] * x + counter: a toy layer whose backward can be made wrong on purpose.

    The buffer `counter` is advanced by every forward (as Dropout's step is), so the
    check passes only if the buffers are restored before each evaluation.
    """

    def __init__(self, channels, dx_factor=1.0, dw_factor=1.0):
        super().__init__()
        self.weight = Parameter(backend.current().asarray(np.linspace(0.5, 1.5, channels)))
        self.set_buffer("counter", backend.current().xp.zeros((), np.float64))
        self.dx_factor, self.dw_factor = dx_factor, dw_factor

    def forward(self, x):
        self.x = x
        self.set_buffer("counter", self.counter + 1.0)
        return x * x * self.weight.data.reshape(1, -1, 1, 1) + self.counter

    def backward(self, dy):
        w = self.weight.data.reshape(1, -1, 1, 1)
        self.weight.accumulate(self.dw_factor * (dy * self.x * self.x).sum(axis=(0, 2, 3)))
        return self.dx_factor * dy * 2 * self.x * w


def _toy_rows(bk, **factors):
    x = bk.asarray(np.random.default_rng(1).standard_normal((2, 3, 3, 5)))
    return check_problem("toy", module_problem(ChannelScale(3, **factors), x),
                         np.random.default_rng(2))


def test_a_correct_backward_passes_every_check(bk):
    rows = _toy_rows(bk)
    assert [r.what for r in rows] == ["dx element by element (90)",
                                      "dweight element by element (3)",
                                      "all arrays (2), 3 random directions"]
    assert all(r.passed for r in rows), rows


@pytest.mark.parametrize("factors, failing", [
    ({"dx_factor": 1.01}, {"dx", "all"}),
    ({"dw_factor": 0.99}, {"dweight", "all"}),
])
def test_a_backward_off_by_a_factor_fails(bk, factors, failing):
    rows = _toy_rows(bk, **factors)
    assert {r.what.split()[0] for r in rows if not r.passed} == failing


def test_a_wrong_functional_backward_fails_and_a_right_one_passes(bk):
    rng = np.random.default_rng(0)
    inputs = {"a": bk.asarray(rng.standard_normal((3, 5))), "b": bk.asarray(rng.standard_normal(5))}

    def forward(a, b):
        return a * b, (a, b)

    def right(dout, cache):
        a, b = cache
        return dout * b, (dout * a).sum(axis=0)

    def wrong(dout, cache):   # forgets the sum over the broadcast axis in db
        a, b = cache
        return dout * b, (dout * a)[0]

    passing = check_problem("mul", function_problem(inputs, forward, right), rng)
    assert all(r.passed for r in passing)
    failed = [r.what for r in check_problem("mul", function_problem(inputs, forward, wrong), rng)
              if not r.passed]
    assert failed == ["db element by element (5)", "all arrays (2), 3 random directions"]


def test_large_arrays_are_checked_along_directions_only(bk):
    x = bk.asarray(np.random.default_rng(1).standard_normal((2, 3, 3, 5)))
    rows = check_problem("toy", module_problem(ChannelScale(3), x), np.random.default_rng(2),
                         elementwise_limit=10)
    assert [r.what for r in rows] == ["dweight element by element (3)",
                                      "all arrays (2), 3 random directions"]
