"""Fuzzing the .npz checkpoint reader: mutated checkpoints load (generic checks, then
against the generator they describe) or fail with one CheckpointError line, never
another exception, a hang or a crash (fuzzing.py)."""

import pytest
from fuzzing import Worker, fuzz_outcomes

from p2p_cupy.train import checkpoint
from p2p_cupy.train.build import networks_from_options
from p2p_cupy.train.options import TrainOptions


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


def test_mutated_checkpoints_load_or_fail_in_one_line(worker, tmp_path):
    opts = TrainOptions(netG="unet_32", ngf=2)
    G, _ = networks_from_options(opts)
    seed_path = checkpoint.save_checkpoint(tmp_path, "seed", {
        "options": opts.to_dict(), "G": G.state_dict(), "step": 3, "note": [1.5, None]})
    seed, path = seed_path.read_bytes(), tmp_path / "mutated.npz"
    outcomes = fuzz_outcomes(worker, "npz", seed, path)
    assert outcomes["error"] > 0 and outcomes["ok"] > 0, outcomes
