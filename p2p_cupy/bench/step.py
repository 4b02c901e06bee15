"""`p2p bench step`: full training iterations (train_step: G forward, three D passes, both
backward passes, both Adam updates), ours and optionally PyTorch's, interleaved.

Throughput is put against the work: the FLOPs of one iteration come from
p2p_cupy.inspection.cost.model_cost (86.94 GFLOP at batch 1, 256x256), so GFLOP/s and the
percentage of the machine's measured matmul peak say how close each framework gets to
the floor set by its GEMMs.
"""
from __future__ import annotations

import math
from functools import partial
from types import SimpleNamespace

import numpy as np

from p2p_cupy import backend, host_memory
from p2p_cupy.bench import machine, timing
from p2p_cupy.inspection.cost import model_cost
from p2p_cupy.models import define_D, define_G
from p2p_cupy.optim import Adam
from p2p_cupy.errors import P2PError
from p2p_cupy.train.graphed import GraphedSteps
from p2p_cupy.train.report import LOSS_NAMES
from p2p_cupy.train.step import StepInputs, train_step


def num_downs_for(size: int) -> int:
    """The U-Net depth that takes a size x size image down to 1x1 (size a power of 2)."""
    downs = int(round(math.log2(size))) if size > 0 else 0
    if size < 4 or 2 ** downs != size:
        raise ValueError(f"bench: --size must be a power of 2 (>= 4) so the U-Net reaches "
                         f"1x1, got {size}")
    return downs


def build_ours(size: int, seed: int = 0):
    """G, D (pix2pix defaults: U-Net + 70x70 PatchGAN, batch norm) and their Adams."""
    G = define_G(f"unet_{size}", num_downs=num_downs_for(size), seed=seed)
    D = define_D("basic", seed=seed + 1)
    return G, D, Adam(G.parameters()), Adam(D.parameters())


def iteration_flops(size: int, batch_size: int) -> int:
    """FLOPs of one training iteration (model_cost on host copies of the networks)."""
    with backend.using("numpy"):
        G = define_G(f"unet_{size}", num_downs=num_downs_for(size))
        _, _, totals = model_cost(G, define_D("basic"), size=size, batch_size=1)
    return totals["iteration_flops"] * batch_size


def random_pair(batch_size: int, size: int, seed: int = 0):
    """A (real_A, real_B) batch of float32 images in [-1, 1] (host arrays)."""
    rng = np.random.default_rng(seed)
    shape = (batch_size, 3, size, size)
    return (rng.uniform(-1, 1, shape).astype(np.float32),
            rng.uniform(-1, 1, shape).astype(np.float32))


def throughput(stats: dict, batch_size: int, flops: int, peak_gflops: float) -> dict:
    """images/s, GFLOP/s and % of the matmul peak at the median time."""
    seconds = stats["median_ms"] / 1e3
    gflops = flops / seconds / 1e9
    return {"images_per_s": batch_size / seconds, "gflops": gflops,
            "percent_of_peak": 100.0 * gflops / peak_gflops}


def bench_step(device="cpu", batch_size=1, size=256, iters=5, warmup=2, compare=None,
               seed=0, cuda_graph=None) -> dict:
    """Time `iters` training iterations after `warmup` ones; returns the result record.
    cuda_graph: replay one captured step (train/graphed.py); None: on cuda only."""
    with backend.using(device) as bk:
        if cuda_graph is None:
            cuda_graph = bk.name == "cuda"
        if cuda_graph and (not bk.uses_kernels or warmup < 2):
            raise P2PError("bench step --cuda-graph: needs --device cuda or emu and "
                           "--warmup >= 2 (an eager step, then the planned one)")
        return _bench_step(bk, device, batch_size, size, iters, warmup, compare, seed,
                           cuda_graph)


def _ours(G, D, opt_G, opt_D, real_A, real_B, cuda_graph):
    """One training step of ours, as `p2p train` runs it (with or without the graph)."""
    if cuda_graph:
        run = SimpleNamespace(G=G, D=D, opt_G=opt_G, opt_D=opt_D)
        return partial(GraphedSteps(run, "vanilla", 100.0, LOSS_NAMES, 1), real_A, real_B)
    inputs = StepInputs(real_A.shape, real_B.shape, real_A.dtype)    # as the training loop
    return lambda: train_step(G, D, opt_G, opt_D, real_A, real_B, inputs=inputs)


def _bench_step(bk, device, batch_size, size, iters, warmup, compare, seed, cuda_graph):
    torch = reference = None
    if compare == "torch":
        from p2p_cupy.bench.torch_ref import load_reference
        torch, reference = load_reference()
    host_A, host_B = random_pair(batch_size, size, seed)
    G, D, opt_G, opt_D = build_ours(size, seed)
    real_A, real_B = bk.asarray(host_A), bk.asarray(host_B)
    candidates = {"ours": _ours(G, D, opt_G, opt_D, real_A, real_B, cuda_graph)}
    syncs = {"ours": bk.synchronize}
    if torch is not None:
        from p2p_cupy.bench.torch_ref import torch_device, torch_sync
        t_dev = torch_device(torch, bk.name)
        tG, tD, t_opt_G, t_opt_D = reference.build(seed=seed, device=t_dev,
                                                   num_downs=num_downs_for(size))
        t_A, t_B = torch.from_numpy(host_A).to(t_dev), torch.from_numpy(host_B).to(t_dev)
        candidates["torch"] = lambda: reference.train_step(tG, tD, t_opt_G, t_opt_D, t_A, t_B)
        syncs["torch"] = lambda: torch_sync(torch, t_dev)
    times = timing.interleaved(candidates, warmup, iters, sync=lambda name: syncs[name]())

    flops = iteration_flops(size, batch_size)
    peak = machine.matmul_peak_gflops(bk)
    result = {"kind": "step", "device": bk.name,
              "config": {"batch_size": batch_size, "size": size, "iters": iters,
                         "warmup": warmup, "compare": compare, "cuda_graph": cuda_graph,
                         "malloc": "keep-freed" if host_memory.applied() else "default"},
              "machine": machine.info(bk, torch), "iteration_flops": flops,
              "matmul_peak_gflops": peak}
    for name, seconds in times.items():
        stats = timing.summary(seconds)
        result[name] = {**stats, **throughput(stats, batch_size, flops, peak)}
    if torch is not None:
        result["ratio"] = result["ours"]["median_ms"] / result["torch"]["median_ms"]
        pairs = np.asarray(times["ours"]) / np.asarray(times["torch"])
        result["ratio_per_round"] = {"median": float(np.median(pairs)),
                                     "min": float(pairs.min()), "max": float(pairs.max())}
    return result
