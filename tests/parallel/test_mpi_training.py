"""`mpiexec -n 2 p2p train` on the CPU: two processes train the model one process trains
with their global batch; rank 0 writes; resume is bit-exact; any failure on one rank ends
both with one line, without hanging. Needs mpi4py and an MPI launcher (`pip install
'p2p-cupy[mpi]'`: mpi4py and mpich); skipped without them.

Tolerance of "the same weights" after 3 Adam steps, float32: every parameter within 2e-5
(measured: 5e-6 with instance norm, 6e-8 with synchronized batch norm), except the conv
biases that feed an instance norm. Their gradient is 0 in exact arithmetic (the norm
subtracts the per-channel mean, bias included), so what they get is float32 rounding
noise, which Adam scales to steps of about lr in either direction: each run moves them
by up to about 3 lr in 3 steps, so they are only held within 6 lr = 1.2e-3 of each other;
they do not change any output.
"""
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from p2p_cupy.train import checkpoint
from p2p_cupy.train.options import TrainOptions
from p2p_cupy.train.run import start_or_resume

pytest.importorskip("mpi4py", reason="the [mpi] extra (mpi4py, mpich) is not installed")
# the launcher of the MPI that mpi4py was installed with (the mpich wheel's, beside python)
# before any other on the PATH
MPIEXEC = next((str(p) for p in (Path(sys.executable).parent / "mpiexec",) if p.exists()),
               shutil.which("mpiexec"))
if MPIEXEC is None:
    pytest.skip("no mpiexec (pip install mpich)", allow_module_level=True)

TIMEOUT_S = 120          # a hang fails the test instead of stalling CI
FAULTS = Path(__file__).with_name("mpi_faults.py")
TINY = dict(netG="unet_32", ngf=4, ndf=4, load_size=40, crop_size=32, max_steps=3,
            device="numpy", print_freq=1, n_epochs=2, n_epochs_decay=2)
DROPOUT = dict(netG="unet_64", load_size=72, crop_size=64)     # dropout needs a 6th level


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """6 training pairs of 72x72 (random blocks | their negative)."""
    root = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(0)
    (root / "train").mkdir()
    for i in range(6):
        a = np.zeros((72, 72, 3), np.uint8) + rng.integers(0, 256, 3, dtype=np.uint8)
        for _ in range(6):
            y, x = rng.integers(0, 60, 2)
            a[y:y + 12, x:x + 9] = rng.integers(0, 256, 3)
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(root / "train" / f"{i}.png")
    return root


def _flags(values: dict) -> list:
    flags = []
    for k, v in values.items():
        flag = "--" + k.replace("_", "-")
        if isinstance(v, bool):
            flags += [flag] if v else []
        else:
            flags += [flag, str(v)]
    return flags


def mpi_train(data, out, name, *, faults=None, env=None, resume=None, **options):
    """`mpiexec -n 2 p2p train` (or mpi_faults.py MODE) -> CompletedProcess; with resume,
    `--resume RESUME --max-steps N` only."""
    values = dict(TINY, dataroot=str(data), out=str(out), name=name, **options)
    args = ["--resume", str(resume), "--max-steps", str(values["max_steps"])] if resume \
        else _flags(values)
    program = [str(FAULTS), faults] if faults else ["-m", "p2p_cupy", "train"]
    return subprocess.run([MPIEXEC, "-n", "2", sys.executable, *program, *args],
                          capture_output=True, text=True, timeout=TIMEOUT_S,
                          env={**os.environ, **(env or {})})


def single_train(data, out, name, **options):
    opts = TrainOptions(**dict(TINY, dataroot=str(data), out=str(out), name=name, **options))
    assert start_or_resume(opts, {}, out=io.StringIO()) == 0


def weights(run_dir):
    state = checkpoint.load_checkpoint(checkpoint.latest_checkpoint(run_dir))
    return state, {f"{n}/{k}": v for n in ("G", "D") for k, v in state[n].items()}


def noise_driven(key: str, norm: str) -> bool:
    """A conv bias feeding an instance norm (zero gradient in exact arithmetic)."""
    return norm == "instance" and key.endswith(".bias") and "outer" not in key and \
        not key.startswith(("G/dec1", "D/11", "D/0"))


@pytest.mark.parametrize("case", ["instance, no dropout", "instance, dropout",
                                  "batch norm, --sync-bn"])
def test_two_ranks_of_batch_1_train_as_one_process_of_batch_2(data, tmp_path, case):
    options = {"instance, no dropout": dict(norm="instance", no_dropout=True),
               "instance, dropout": dict(norm="instance", **DROPOUT),
               "batch norm, --sync-bn": dict(norm="batch", no_dropout=True)}[case]
    ran = mpi_train(data, tmp_path, "two", sync_bn=options["norm"] == "batch", **options)
    assert ran.returncode == 0, ran.stderr
    assert "2 processes (MPI) x batch 1 = global batch 2" in ran.stderr
    single_train(data, tmp_path, "one", batch_size=2, **options)
    (state_two, two), (state_one, one) = weights(tmp_path / "two"), weights(tmp_path / "one")
    assert state_two["step"] == state_one["step"] == 3 and two.keys() == one.keys()
    for key in one:
        tolerance = 6 * 2e-4 if noise_driven(key, options["norm"]) else 2e-5
        np.testing.assert_allclose(two[key], one[key], rtol=0, atol=tolerance, err_msg=key)
    if "dropout" in case and "no" not in case:
        assert any(k.endswith("step") and v == 3 for k, v in two.items())   # dropout ran
    # rank 0 alone wrote the run: one loss log with one row per step (the ranks' mean)
    log = (tmp_path / "two" / "loss_log.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in log[1:]] == [1, 2, 3]


def test_a_resumed_two_rank_run_is_bit_exact_and_another_count_is_refused(data, tmp_path):
    options = dict(norm="batch", sync_bn=True, **DROPOUT)
    whole = mpi_train(data, tmp_path, "whole", max_steps=4, **options)
    assert whole.returncode == 0, whole.stderr
    half = mpi_train(data, tmp_path, "half", max_steps=2, **options)
    assert half.returncode == 0, half.stderr
    resumed = mpi_train(data, tmp_path, "half", max_steps=4, resume=tmp_path / "half")
    assert resumed.returncode == 0, resumed.stderr
    (state_a, a), (state_b, b) = weights(tmp_path / "whole"), weights(tmp_path / "half")
    assert state_a["step"] == state_b["step"] == 4
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    with pytest.raises(ValueError, match=r"trained by 2 process.*mpiexec -n 2"):
        start_or_resume(TrainOptions(), {}, resume=tmp_path / "half", out=io.StringIO())


def _error_lines(ran):
    return [line for line in ran.stderr.splitlines() if line.startswith("Error: ")]


def _checkpoint_step(run_dir):
    return weights(run_dir)[0]["step"]


@pytest.mark.parametrize("fault,says", [
    ("exception", "Error: rank 1 of 2: RuntimeError: injected failure"),
    ("hang", "Error: rank 0 of 2: the all-reduce"),    # "... got no answer within 3 s"
])
def test_a_failure_on_one_rank_ends_both_with_one_line(data, tmp_path, fault, says):
    ran = mpi_train(data, tmp_path, "r", faults=fault, save_latest_freq=1,
                    env={"P2P_MPI_TIMEOUT_S": "3"})
    assert ran.returncode != 0
    assert len(_error_lines(ran)) == 1 and _error_lines(ran)[0].startswith(says), ran.stderr
    if fault == "hang":
        assert "got no answer from the other ranks within 3 s" in ran.stderr
    assert _checkpoint_step(tmp_path / "r") == 1     # the last complete checkpoint stays


def test_a_nan_on_one_rank_stops_every_rank_before_saving(data, tmp_path):
    ran = mpi_train(data, tmp_path, "r", faults="nan", save_latest_freq=1)
    assert ran.returncode == 1, ran.stderr
    assert "loss G_L1 is nan at step 2 on rank 1 of 2" in ran.stderr
    assert _checkpoint_step(tmp_path / "r") == 1


def test_a_rank_killed_by_sigkill_ends_the_job_and_mpiexec_names_its_process(data, tmp_path):
    ran = mpi_train(data, tmp_path, "r", faults="sigkill", save_latest_freq=1)
    assert ran.returncode != 0
    pids = ran.stderr.split("process ids by rank: ")[1].splitlines()[0]
    rank1_pid = dict(p.split(": ") for p in pids.split(", "))["1"]
    said = ran.stdout + ran.stderr                   # mpiexec reports on its stdout
    assert f"PID {rank1_pid} " in said and "signal 9" in said, said
    assert _checkpoint_step(tmp_path / "r") == 1


def test_bench_step_distributed_times_the_step_its_compute_and_its_all_reduce(tmp_path):
    from p2p_cupy.bench.step import build_ours
    out = tmp_path / "record.json"
    ran = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "p2p_cupy", "bench", "step",
                          "--distributed", "--size", "32", "--iters", "1", "--warmup", "0",
                          "--json", str(out)], capture_output=True, text=True,
                         timeout=TIMEOUT_S)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.count("bus bandwidth") == 1      # rank 0 alone reports
    record = json.loads(out.read_text())
    G, D, _, _ = build_ours(32)
    assert record["ranks"] == 2 and record["config"]["global_batch"] == 2
    assert record["allreduce_bytes"] == 4 * (G.num_parameters() + D.num_parameters())
    assert record["step"]["median_ms"] > record["all-reduce"]["median_ms"] > 0
    assert 0 < record["scaling_efficiency"] < 1.5


def test_cuda_graph_under_mpiexec_is_refused_in_one_line_before_training(data, tmp_path):
    """Data-parallel steps all-reduce on the host: no captured step (emu stands in for cuda)."""
    ran = mpi_train(data, tmp_path, "g", device="emu", cuda_graph=True)
    assert ran.returncode != 0
    lines = _error_lines(ran)
    assert len(lines) == 1 and "--cuda-graph: cannot be used with 2 processes" in lines[0], \
        ran.stderr
    assert not (tmp_path / "g" / "checkpoints" / "latest.npz").exists()
