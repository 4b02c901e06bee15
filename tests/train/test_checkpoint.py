import json

import numpy as np
import pytest

from p2p_cupy.train import checkpoint


def _state():
    return {"G": {"enc1.0.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
                  "dec5.3.step": np.array(7, dtype=np.int64)},
            "opt": {"t": 3, "m": [np.ones(2), np.zeros((1, 2))]},
            "rng": {"bit_generator": "PCG64", "state": {"state": 2 ** 127 + 5, "inc": 3}},
            "step": 3, "lr": 2e-4, "options": {"name": "x", "no_flip": False}}


def test_checkpoint_round_trips_arrays_scalars_and_big_ints(tmp_path):
    state = _state()
    checkpoint.save_checkpoint(tmp_path, "latest", state)
    back = checkpoint.load_checkpoint(tmp_path / "latest.npz")
    np.testing.assert_array_equal(back["G"]["enc1.0.weight"], state["G"]["enc1.0.weight"])
    assert back["G"]["enc1.0.weight"].dtype == np.float32
    assert back["G"]["dec5.3.step"] == 7 and back["G"]["dec5.3.step"].dtype == np.int64
    assert back["opt"]["t"] == 3 and len(back["opt"]["m"]) == 2
    assert back["rng"]["state"]["state"] == 2 ** 127 + 5
    assert back["lr"] == 2e-4 and back["options"] == state["options"]
    side = json.loads((tmp_path / "latest.json").read_text())
    assert side["step"] == 3 and side["G"]["enc1.0.weight"] == {"__array__": "s/G/enc1.0.weight"}


def test_checkpoint_save_leaves_no_temporary_files(tmp_path):
    checkpoint.save_checkpoint(tmp_path, "latest", _state())
    checkpoint.save_checkpoint(tmp_path, "latest", _state())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "latest.npz"]


def test_loading_a_torn_or_foreign_file_is_a_clear_error(tmp_path):
    checkpoint.save_checkpoint(tmp_path, "latest", _state())
    data = (tmp_path / "latest.npz").read_bytes()
    (tmp_path / "torn.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="torn.npz"):
        checkpoint.load_checkpoint(tmp_path / "torn.npz")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a p2p-cupy checkpoint"):
        checkpoint.load_checkpoint(tmp_path / "foreign.npz")


def test_objects_that_would_need_pickle_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store"):
        checkpoint.save_checkpoint(tmp_path, "x", {"f": object()})
