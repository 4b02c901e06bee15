"""Gradient collectives between GPUs with NCCL (cupy.cuda.nccl); MPI only bootstraps it.

Rank 0 creates NCCL's unique id, MPI broadcasts it, and every rank joins the NCCL
communicator with it. Each rank uses GPU `local_rank` of its machine (one process per
GPU), chosen before any array is allocated. The all-reduce and the broadcast run on the
current CuPy stream, in stream order with the backward kernels before them: no host sync.

Not yet run on a GPU: no GPU was available while this was written (see docs/SCALING.md).
"""
from __future__ import annotations

import numpy as np


def select_local_gpu(world):
    """Make GPU local_rank (modulo the GPUs this machine has) current for this process."""
    import cupy
    count = cupy.cuda.runtime.getDeviceCount()
    cupy.cuda.Device(world.local_rank % count).use()


class NcclReducer:
    """allreduce_sum / broadcast of CuPy arrays between the ranks of an MPI world."""

    def __init__(self, world):
        import cupy
        from cupy.cuda import nccl
        self.cupy, self.nccl = cupy, nccl
        uid = nccl.get_unique_id() if world.rank == 0 else None
        uid = world.comm.bcast(uid, root=0)
        self.comm = nccl.NcclCommunicator(world.size, uid, world.rank)
        self.size = world.size
        self.types = {np.dtype(np.float32): nccl.NCCL_FLOAT32,
                      np.dtype(np.float64): nccl.NCCL_FLOAT64,
                      np.dtype(np.int64): nccl.NCCL_INT64}

    def _args(self, array):
        if not array.flags.c_contiguous:
            raise ValueError("NCCL collectives need contiguous arrays")
        stream = self.cupy.cuda.get_current_stream().ptr
        return array.data.ptr, array.size, self.types[np.dtype(array.dtype)], stream

    def allreduce_sum(self, array):
        ptr, count, dtype, stream = self._args(array)
        self.comm.allReduce(ptr, ptr, count, dtype, self.nccl.NCCL_SUM, stream)
        return array

    def broadcast(self, array, root=0):
        ptr, count, dtype, stream = self._args(array)
        self.comm.bcast(ptr, count, dtype, root, stream)
        return array
