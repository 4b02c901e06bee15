"""GradientAverager without MPI: a stand-in reducer plays the other rank. With the
optimizer's flat buffers the all-reduce runs on the flat gradient buffer itself (no
copy); with a parameter lacking a gradient it copies those that have one; both give the
same mean."""
import numpy as np

from p2p_cupy.models import define_D
from p2p_cupy.optim import Adam
from p2p_cupy.parallel.data_parallel import GradientAverager


class OtherRankAdds:
    """allreduce_sum as if a second rank held `other` (a flat host array of every
    gradient); remembers the arrays it was given."""

    size = 2

    def __init__(self, bk, other):
        self.bk, self.other, self.reduced = bk, other, []

    def allreduce_sum(self, array):
        self.reduced.append(array)
        array += self.bk.asarray(self.other[:array.size], dtype=array.dtype)


def _net_with_gradients(bk, seed):
    D = define_D("basic", ndf=2, n_layers_D=1, seed=0)
    D.to_backend(bk)
    opt = Adam(D.parameters())
    opt.zero_grad()
    rng = np.random.default_rng(seed)
    mine = [rng.standard_normal(p.grad.shape).astype(np.float32) for p in D.parameters()]
    for p, g in zip(D.parameters(), mine):
        p.grad[...] = bk.asarray(g)
    return D, opt, mine


def test_the_flat_gradient_buffer_is_all_reduced_in_place(bk):
    D, opt, mine = _net_with_gradients(bk, 1)
    theirs = np.random.default_rng(2).standard_normal(opt.flat.grad.size).astype(np.float32)
    reducer = OtherRankAdds(bk, theirs)
    GradientAverager(D.parameters(), reducer, reducer, opt.flat).average()
    assert len(reducer.reduced) == 1 and reducer.reduced[0] is opt.flat.grad   # no copy
    start = 0
    for p, g in zip(D.parameters(), mine):
        expected = (g.reshape(-1) + theirs[start:start + g.size]) / 2
        np.testing.assert_allclose(bk.to_numpy(p.grad).reshape(-1), expected, rtol=1e-6)
        start += g.size


def test_without_a_gradient_somewhere_the_others_are_copied_and_averaged(bk):
    D, opt, mine = _net_with_gradients(bk, 1)
    params = D.parameters()
    params[0].grad = None                               # e.g. a frozen layer
    theirs = np.random.default_rng(2).standard_normal(opt.flat.grad.size).astype(np.float32)
    reducer = OtherRankAdds(bk, theirs)
    GradientAverager(params, reducer, reducer, opt.flat).average()
    assert reducer.reduced[0] is not opt.flat.grad and params[0].grad is None
    start = 0
    for p, g in zip(params[1:], mine[1:]):               # packed from the first with one
        expected = (g.reshape(-1) + theirs[start:start + g.size]) / 2
        np.testing.assert_allclose(bk.to_numpy(p.grad).reshape(-1), expected, rtol=1e-6)
        start += g.size


def test_data_parallel_takes_the_optimizers_flat_buffers_when_they_hold_the_network(bk):
    from p2p_cupy.parallel.training import _flat_of
    D, opt, _ = _net_with_gradients(bk, 1)
    assert _flat_of(opt, D) is opt.flat
    assert _flat_of(Adam(D.parameters()[1:]), D) is None       # another set: copied
