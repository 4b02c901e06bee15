"""Without an MPI launcher nothing of the data-parallel path runs: mpi4py is not even
imported (a run must not need it, nor pay its start-up)."""
import os
import subprocess
import sys

CHECK = """
import sys
import p2p_cupy.train.run, p2p_cupy.train.loop, p2p_cupy.cli.train
from p2p_cupy.parallel import comm
assert comm.world() is comm.SINGLE and comm.world().size == 1
assert 'mpi4py' not in sys.modules, 'mpi4py was imported'
print('ok')
"""


def test_without_mpi_the_world_is_one_process_and_mpi4py_is_not_imported():
    env = {k: v for k, v in os.environ.items()
           if k not in ("PMI_SIZE", "PMIX_SIZE", "OMPI_COMM_WORLD_SIZE")}
    ran = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                         env=env, timeout=60)
    assert ran.returncode == 0 and ran.stdout.strip() == "ok", ran.stderr
