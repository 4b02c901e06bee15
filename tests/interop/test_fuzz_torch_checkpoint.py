"""Fuzzing the .pth reader: mutated checkpoints of both formats load or fail with one
TorchCheckpointError line, never another exception, a hang or a crash (fuzzing.py)."""

import numpy as np
import pytest
from fuzzing import Worker, fuzz_outcomes
from pth_files import example_state, tensors_pickle, write_legacy, write_storages_zip, write_zip


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


def _seed(tmp_path, fmt):
    path = tmp_path / f"seed.{fmt}.pth"
    if fmt == "zip":
        write_zip(path, example_state())
    elif fmt == "legacy":
        write_legacy(path, example_state())
    else:                              # views: a transposed tensor and an offset on one storage
        base = np.arange(12, dtype=np.float32)
        write_storages_zip(path, tensors_pickle({
            "t": ("0", "FloatStorage", 12, 0, (3, 4), (1, 3)),
            "o": ("0", "FloatStorage", 12, 5, (2, 2), (2, 1))}), {"0": base.tobytes()})
    return path.read_bytes()


@pytest.mark.parametrize("fmt", ["zip", "legacy", "views"])
def test_mutated_pth_files_load_or_fail_in_one_line(worker, tmp_path, fmt):
    seed, path = _seed(tmp_path, fmt), tmp_path / "mutated.pth"
    outcomes = fuzz_outcomes(worker, "pth", seed, path)
    assert outcomes["error"] > 0 and outcomes["ok"] > 0, outcomes
