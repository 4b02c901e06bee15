"""What a training run does differently when it is one of N data-parallel processes.

    mpiexec -n N p2p train ...      # N processes, each with --batch-size samples per step

Every rank builds the same G and D (same seeds), then takes rank 0's parameters anyway (a
broadcast: nothing may differ at the start). Each step every rank trains on its share of
the global batch (the loader's rank r takes positions r, r + N, ...; dropout draws the
masks of those positions), and the gradients of D, then of G, are averaged before each
optimizer step. With --sync-bn the batch norm statistics are the global batch's too; the
default is batch norm per process, as PyTorch's DistributedDataParallel does.

The gradient collectives run on NCCL when the backend is cuda, on MPI (host memory)
otherwise; the small ones (losses, checksums, the stop flag) always on MPI.
"""
from __future__ import annotations

from p2p_cupy.nn.dropout import Dropout
from p2p_cupy.nn.norm import BatchNorm2d
from p2p_cupy.parallel.data_parallel import (GradientAverager, broadcast_parameters,
                                             check_in_sync)


class DataParallel:
    """The collectives of one run across the ranks of `world` (G and D of `run`)."""

    def __init__(self, world, run, bk, sync_bn: bool):
        self.world = world
        self.reducer = world
        if bk.name == "cuda" and world.size > 1:
            from p2p_cupy.parallel.nccl import NcclReducer
            self.reducer = NcclReducer(world)
        self.nets = {"G": run.G, "D": run.D}
        for net in self.nets.values():
            for _, module in net.named_modules():
                if isinstance(module, Dropout):
                    module.placement = (world.rank, world.size)
                if sync_bn and isinstance(module, BatchNorm2d):
                    module.sync = self.reducer
            broadcast_parameters(net, world, self.reducer)
        # the optimizers' flat gradient buffers are what gets all-reduced (no copy)
        self.averagers = {id(net): GradientAverager(net.parameters(), world, self.reducer,
                                                    _flat_of(opt, net))
                          for net, opt in ((run.G, run.opt_G), (run.D, run.opt_D))}

    @property
    def gradient_bytes(self) -> int:
        """Bytes all-reduced per step: D's and G's gradients once each."""
        return sum(a.nbytes for a in self.averagers.values())

    def average_gradients(self, net):
        """Called between a network's backward and its optimizer step."""
        self.averagers[id(net)].average()

    def check_in_sync(self, step: int):
        check_in_sync(self.nets, self.world, step)


def _flat_of(opt, net):
    """The optimizer's flat buffers when they hold exactly the network's parameters, in
    order (as build_run makes them); None otherwise (GradientAverager then copies)."""
    flat = getattr(opt, "flat", None)
    same = flat is not None and [id(p) for p in flat.params] == [id(p) for p in net.parameters()]
    return flat if same else None
