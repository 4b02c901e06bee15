"""The processes of a data-parallel run and the collectives between them.

`world()` is the communicator of this process: `SINGLE` (one process, every collective a
no-op) unless the process was started by an MPI launcher (`mpiexec -n N p2p train ...`)
with N > 1; only then is mpi4py imported, so a run without MPI needs none of it.

Nothing may hang: every blocking collective runs under a watchdog. If it has not
returned after `timeout_s` (another rank died without MPI noticing, or is stuck), this
rank prints one line naming itself and the collective and aborts the whole job
(MPI_Abort). A rank killed outright (SIGKILL, out of memory) is noticed by the launcher,
which ends the others and prints the dead process's PID; rank 0 prints every rank's PID
when the run starts so that line can be read as a rank.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback

import numpy as np

from p2p_cupy.errors import P2PError, describe_error

DEFAULT_TIMEOUT_S = 600.0    # longer than any step at the default sizes on a slow CPU
# How MPI launchers tell a process its rank and world size: MPICH/Intel MPI (Hydra, PMI),
# PMIx (Open MPI 5, Slurm), Open MPI's own names.
_SIZE_VARIABLES = ("PMI_SIZE", "PMIX_SIZE", "OMPI_COMM_WORLD_SIZE")


class ParallelError(P2PError):
    """The ranks of a run disagree (drifted parameters, a different world size on resume)."""


class SingleProcess:
    """The world of one process: rank 0 of 1, every collective returns its input."""

    rank, size, local_rank, name = 0, 1, 0, "single process"

    def allreduce_sum(self, array):
        return array

    def broadcast(self, array, root=0):
        return array

    def allgather(self, obj) -> list:
        return [obj]

    def any(self, flag: bool) -> bool:
        return bool(flag)

    def fail(self, message: str, code: int = 1):
        raise SystemExit(code)


SINGLE = SingleProcess()


def launched_size() -> int:
    """The world size an MPI launcher announced in the environment (1 if none)."""
    for name in _SIZE_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


class MPIWorld:
    """MPI_COMM_WORLD through mpi4py: host collectives on NumPy arrays and small objects."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S):
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise P2PError(f"started by an MPI launcher ({launched_size()} processes) but "
                           f"mpi4py is missing: pip install 'p2p-cupy[mpi]' ({e})") from None
        self.MPI, self.comm = MPI, MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)      # the ranks on this machine
        self.local_rank = node.Get_rank()
        self.name = f"{self.size} processes (MPI)"
        self.watchdog = Watchdog(self, timeout_s)

    def allreduce_sum(self, array):
        """Sum a NumPy array over the ranks, in place; returns it."""
        with self.watchdog.watch("all-reduce"):
            self.comm.Allreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM)
        return array

    def broadcast(self, array, root=0):
        """Rank root's NumPy array into everyone's, in place; returns it."""
        with self.watchdog.watch("broadcast"):
            self.comm.Bcast(array, root=root)
        return array

    def allgather(self, obj) -> list:
        """Every rank's (small, picklable) obj, in rank order."""
        with self.watchdog.watch("all-gather"):
            return self.comm.allgather(obj)

    def any(self, flag: bool) -> bool:
        """True on every rank if flag is true on any (e.g. Ctrl-C reached one rank first)."""
        value = np.array([int(bool(flag))], np.int64)
        with self.watchdog.watch("all-reduce of a flag"):
            self.comm.Allreduce(self.MPI.IN_PLACE, value, op=self.MPI.MAX)
        return bool(value[0])

    def fail(self, message: str, code: int = 1):
        """Print one line and end every rank of the job (this one included)."""
        print(message, file=sys.stderr, flush=True)
        self.comm.Abort(code)


class Watchdog:
    """Aborts the job when a collective has been waiting longer than timeout_s.

    One daemon thread per process checks the deadline of the collective in progress once a
    second (mpi4py initialises MPI with MPI_THREAD_MULTIPLE, so Abort may be called from it).
    """

    def __init__(self, world, timeout_s):
        self.world, self.timeout_s = world, float(timeout_s)
        self.deadline, self.what = None, ""
        threading.Thread(target=self._run, name="p2p-mpi-watchdog", daemon=True).start()

    @contextlib.contextmanager
    def watch(self, what):
        """The block is a collective called `what`: it must end within timeout_s."""
        self.what, self.deadline = what, time.monotonic() + self.timeout_s
        try:
            yield
        finally:
            self.deadline = None

    def _run(self):
        while True:
            time.sleep(min(1.0, self.timeout_s / 4))
            deadline = self.deadline
            if deadline is not None and time.monotonic() > deadline:
                self.world.fail(f"Error: rank {self.world.rank} of {self.world.size}: the "
                                f"{self.what} got no answer from the other ranks within "
                                f"{self.timeout_s:g} s (a rank died or hangs); aborting all")


_world = None


def world():
    """This process's communicator (created once): MPIWorld under an MPI launcher with more
    than one process, SINGLE otherwise."""
    global _world
    if _world is None:
        timeout = float(os.environ.get("P2P_MPI_TIMEOUT_S", DEFAULT_TIMEOUT_S))
        _world = MPIWorld(timeout) if launched_size() > 1 else SINGLE
    return _world


# A rank other than 0 waits this long before reporting its failure: an error every rank
# meets at once (a bad option, a missing file) is then reported once, by rank 0, whose
# abort ends the others first.
QUIET_S = 2.0


@contextlib.contextmanager
def failures_end_every_rank(world):
    """Any exception on one rank ends every rank: one line naming the rank and the error,
    then MPI_Abort (the others may be waiting for this rank in a collective). A clean
    SystemExit passes. With one process, nothing changes."""
    if world.size == 1:
        yield
        return
    try:
        yield
    except SystemExit as e:
        if not e.code:
            raise
        _end_all(world, f"exited with code {e.code}", e.code if isinstance(e.code, int) else 1)
    except BaseException as e:       # KeyboardInterrupt included: the others must end too
        if os.environ.get("P2P_DEBUG"):
            traceback.print_exc()
        message = describe_error(e)                        # the CLI's one-line wording
        if not isinstance(e, (P2PError, ValueError, OSError, MemoryError)):
            message = f"{type(e).__name__}: {message}"
        _end_all(world, message, 130 if isinstance(e, KeyboardInterrupt) else 1)


def _end_all(world, message, code):
    if world.rank != 0:
        time.sleep(QUIET_S)
    world.fail(f"Error: rank {world.rank} of {world.size}: {message}", code)
