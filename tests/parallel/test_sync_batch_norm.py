"""Synchronized batch norm (--sync-bn): two ranks, emulated by two threads that all-reduce
through a barrier, normalise their halves of a batch with the whole batch's statistics.
Checked against plain batch norm on the whole batch (itself checked against finite
differences) and directly against finite differences of the two-rank computation."""
import threading

import numpy as np

from p2p_cupy import backend
from p2p_cupy.gradcheck.check import check_problem, function_problem
from p2p_cupy.ops.batch_norm import batch_norm2d_backward, batch_norm2d_forward


class ThreadRanks:
    """`size` ranks as threads; rank(r) is a communicator with allreduce_sum and size."""

    def __init__(self, size):
        self.size, self.slots = size, [None] * size
        self.barrier = threading.Barrier(size)

    def rank(self, r):
        ranks = self

        class Rank:
            size = ranks.size

            def allreduce_sum(self, array):
                ranks.slots[r] = array.copy()
                ranks.barrier.wait()
                total = sum(ranks.slots[1:], ranks.slots[0].copy())
                ranks.barrier.wait()          # everyone has read every slot
                array[...] = total
                return array
        return Rank()

    def run(self, work):
        """[work(r, rank communicator) for every r], each in its own thread."""
        results, errors = [None] * self.size, []

        def target(r):
            try:
                with backend.using(bk_for_threads):
                    results[r] = work(r, self.rank(r))
            except BaseException as e:       # re-raised below
                errors.append(e)
                self.barrier.abort()
        threads = [threading.Thread(target=target, args=(r,)) for r in range(self.size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results


bk_for_threads = None      # the backend module state is global; threads use the test's


def _two_rank_batch_norm(bk, gamma, beta):
    """forward(x0, x1, gamma, beta) -> (concat of the ranks' y, cache) and its backward,
    in the form gradcheck.function_problem takes."""
    ranks = ThreadRanks(2)

    def forward(x0, x1, gamma, beta):
        def work(r, comm):
            c = gamma.shape[0]
            rm, rv = bk.xp.zeros(c, gamma.dtype), bk.xp.ones(c, gamma.dtype)
            return batch_norm2d_forward((x0, x1)[r], gamma, beta, rm, rv, True, sync=comm)
        outs = ranks.run(work)
        return bk.xp.concatenate([y for y, _ in outs]), [cache for _, cache in outs]

    def backward(dy, caches):
        n = caches[0][0].shape[0]
        outs = ranks.run(lambda r, comm: batch_norm2d_backward(dy[r * n:(r + 1) * n],
                                                                caches[r]))
        (dx0, dg0, db0), (dx1, dg1, db1) = outs
        return dx0, dx1, dg0 + dg1, db0 + db1     # gamma, beta feed both ranks' outputs
    return forward, backward


def test_two_synchronized_ranks_compute_batch_norm_of_the_whole_batch(bk, rng):
    global bk_for_threads
    bk_for_threads = bk
    x = rng.standard_normal((4, 3, 2, 3)) * 2 + 1
    gamma, beta = rng.normal(1, 0.3, 3), rng.normal(0, 0.3, 3)
    dy = rng.standard_normal(x.shape)
    args = [bk.asarray(a, np.float64) for a in (x[:2], x[2:], gamma, beta)]
    forward, backward = _two_rank_batch_norm(bk, *args[2:])
    y, caches = forward(*args)
    dx0, dx1, dgamma, dbeta = backward(bk.asarray(dy), caches)

    rm, rv = bk.xp.zeros(3), bk.xp.ones(3)
    y_ref, cache = batch_norm2d_forward(bk.asarray(x), args[2], args[3], rm, rv, True)
    dx_ref, dgamma_ref, dbeta_ref = batch_norm2d_backward(bk.asarray(dy), cache)
    close = dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(bk.to_numpy(y), bk.to_numpy(y_ref), **close)
    np.testing.assert_allclose(np.concatenate([bk.to_numpy(dx0), bk.to_numpy(dx1)]),
                               bk.to_numpy(dx_ref), **close)
    np.testing.assert_allclose(bk.to_numpy(dgamma), bk.to_numpy(dgamma_ref), **close)
    np.testing.assert_allclose(bk.to_numpy(dbeta), bk.to_numpy(dbeta_ref), **close)
    # each rank normalised with the whole batch's mean
    for cache in caches:
        np.testing.assert_allclose(bk.to_numpy(cache[1]), x.mean(axis=(0, 2, 3)), **close)


def test_synchronized_batch_norm_gradients_match_finite_differences(bk, rng):
    global bk_for_threads
    bk_for_threads = bk
    x = rng.standard_normal((4, 2, 3, 2))
    inputs = {"x0": x[:2], "x1": x[2:], "gamma": rng.normal(1, 0.3, 2),
              "beta": rng.normal(0, 0.3, 2)}
    inputs = {k: bk.asarray(v, np.float64) for k, v in inputs.items()}
    forward, backward = _two_rank_batch_norm(bk, inputs["gamma"], inputs["beta"])
    rows = check_problem("sync batch norm, 2 ranks", function_problem(inputs, forward, backward),
                         rng)
    assert len(rows) == 5 and all(row.passed for row in rows), rows
