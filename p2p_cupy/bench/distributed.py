"""`mpiexec -n N p2p bench step --distributed`: one data-parallel training iteration on N
processes, timed as a whole and in its parts, interleaved round by round:

    step        train_step with both gradient all-reduces (what `p2p train` runs)
    compute     train_step without them (each rank alone, as if N were 1)
    all-reduce  the two all-reduces alone (G's and D's flat gradient buffers)

Every rank waits for all others (a tiny collective) before each timed part, so a part's
time is its own and not another rank's lateness; a round's time is the slowest rank's.
Scaling efficiency = compute / step: the fraction of the step spent computing, which is
the N-process throughput over N times the one-process throughput when compute alone
does not slow down with N (on a machine whose cores the processes share, it does: the
one-process `p2p bench step` says by how much).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from p2p_cupy import backend
from p2p_cupy.bench import timing
from p2p_cupy.bench.step import build_ours, random_pair
from p2p_cupy.errors import P2PError
from p2p_cupy.parallel import comm
from p2p_cupy.parallel.training import DataParallel
from p2p_cupy.train.step import train_step

PARTS = ("step", "compute", "all-reduce")


def bench_distributed_step(device="cpu", batch_size=1, size=256, iters=5, warmup=2,
                           seed=0) -> dict:
    world = comm.world()
    if world.size == 1:
        raise P2PError("bench step --distributed: start it with `mpiexec -n N` (N >= 2); "
                       "this is one process")
    with comm.failures_end_every_rank(world):
        if backend.get_backend(device).name == "cuda":
            from p2p_cupy.parallel.nccl import select_local_gpu
            select_local_gpu(world)
        with backend.using(device) as bk:
            return _bench(world, bk, batch_size, size, iters, warmup, seed)


def _bench(world, bk, batch_size, size, iters, warmup, seed):
    G, D, opt_G, opt_D = build_ours(size, seed)
    parallel = DataParallel(world, SimpleNamespace(G=G, D=D, opt_G=opt_G, opt_D=opt_D), bk,
                            sync_bn=False)
    host_A, host_B = random_pair(batch_size, size, seed + world.rank)   # each rank its own
    real_A, real_B = bk.asarray(host_A), bk.asarray(host_B)
    parts = {
        "step": lambda: train_step(G, D, opt_G, opt_D, real_A, real_B,
                                   average_gradients=parallel.average_gradients),
        "compute": lambda: train_step(G, D, opt_G, opt_D, real_A, real_B),
        "all-reduce": lambda: [parallel.average_gradients(net) for net in (D, G)],
    }

    def timed(fn):
        def run():
            world.any(False)             # everyone starts together
            fn()
            bk.synchronize()
        return run
    times = timing.interleaved({k: timed(f) for k, f in parts.items()}, warmup, iters)
    slowest = {k: np.max(world.allgather(v), axis=0) for k, v in times.items()}
    result = {"kind": "step-distributed", "device": bk.name, "ranks": world.size,
              "config": {"batch_size": batch_size, "global_batch": batch_size * world.size,
                         "size": size, "iters": iters, "warmup": warmup},
              "allreduce_bytes": parallel.gradient_bytes}
    for k in PARTS:
        result[k] = timing.summary(slowest[k])
    step_s, reduce_s = result["step"]["median_ms"] / 1e3, result["all-reduce"]["median_ms"] / 1e3
    result["images_per_s"] = batch_size * world.size / step_s
    result["scaling_efficiency"] = result["compute"]["median_ms"] / result["step"]["median_ms"]
    result["allreduce_share"] = result["all-reduce"]["median_ms"] / result["step"]["median_ms"]
    # a ring all-reduce moves 2 (N - 1) / N of the buffer through each rank's link
    result["allreduce_bus_gb_per_s"] = (2 * (world.size - 1) / world.size
                                        * parallel.gradient_bytes / reduce_s / 1e9)
    result["rank"] = world.rank
    return result
