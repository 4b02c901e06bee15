"""`p2p train` with a fault on rank 1 at its 2nd step, for the failure tests (run under
mpiexec by test_mpi_training.py): python mpi_faults.py MODE [p2p train options...]

    exception   rank 1 raises RuntimeError
    sigkill     rank 1 kills itself with SIGKILL (as the out-of-memory killer would)
    nan         rank 1's G_L1 loss is NaN
    hang        rank 1 sleeps forever (the others wait in a collective: the watchdog ends it)
"""
import os
import signal
import sys
import time

from p2p_cupy.cli.main import main
from p2p_cupy.train import loop

mode, calls = sys.argv.pop(1), []
real_train_step = loop.train_step


def faulty_train_step(*args, **kwargs):
    calls.append(1)
    if os.environ.get("PMI_RANK") == "1" and len(calls) == 2:
        if mode == "exception":
            raise RuntimeError("injected failure")
        if mode == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "hang":
            time.sleep(3600)
    losses, fake_B = real_train_step(*args, **kwargs)
    if mode == "nan" and os.environ.get("PMI_RANK") == "1" and len(calls) == 2:
        losses["G_L1"] = losses["G_L1"] * float("nan")
    return losses, fake_B


loop.train_step = faulty_train_step
main(["train", *sys.argv[1:]])
