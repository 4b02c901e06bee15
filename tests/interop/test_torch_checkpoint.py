"""The torch-free checkpoint reader. The files are written here opcode by opcode in
PyTorch's two formats (no torch needed); with torch installed, real torch.save files too."""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest
from pth_files import LEGACY_MAGIC, _global, example_state, state_dict_pickle, write_legacy, \
    write_zip

from p2p_cupy.interop.torch_checkpoint import load_state_dict

@pytest.mark.parametrize("writer", [write_zip, write_legacy], ids=["zip", "legacy"])
def test_both_formats_give_back_the_arrays_exactly(tmp_path, writer):
    state = example_state()
    writer(tmp_path / "net.pth", state)
    loaded = load_state_dict(tmp_path / "net.pth")
    assert list(loaded) == list(state)
    for key, array in state.items():
        assert loaded[key].dtype == array.dtype and loaded[key].shape == array.shape
        np.testing.assert_array_equal(loaded[key], array)


def test_a_transposed_tensor_is_read_through_its_strides(tmp_path):
    base = np.arange(6, dtype=np.float32).reshape(2, 3)
    data = state_dict_pickle({"t": base.T})                  # strides (1, 3) on base's storage
    with zipfile.ZipFile(tmp_path / "t.pth", "w") as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/data/0", base.tobytes())
    np.testing.assert_array_equal(load_state_dict(tmp_path / "t.pth")["t"], base.T)


class RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_a_pickle_that_would_run_a_command_is_refused_and_nothing_runs(tmp_path, fmt):
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"w": RunsACommand(marker)}, protocol=2)
    path = tmp_path / "evil.pth"
    if fmt == "zip":
        write_zip(path, {}, data_pkl=evil)
    else:
        with open(path, "wb") as f:
            for header in (LEGACY_MAGIC, 1001, {"little_endian": True}):
                pickle.dump(header, f, protocol=2)
            f.write(evil)
    with pytest.raises(ValueError, match=r"evil.pth: refusing to load global (posix|os)\.system"):
        load_state_dict(path)
    assert not marker.exists()


def test_files_that_are_not_checkpoints_get_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="notes.txt: neither a zip nor a legacy"):
        load_state_dict(tmp_path / "notes.txt")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("readme.md", "x")
    with pytest.raises(ValueError, match="other.zip: a zip but not a PyTorch checkpoint"):
        load_state_dict(tmp_path / "other.zip")
    state = example_state()
    write_zip(tmp_path / "cut.pth", state)
    with zipfile.ZipFile(tmp_path / "cut.pth") as z, zipfile.ZipFile(tmp_path / "c.pth", "w") as o:
        for name in z.namelist():
            if name != "archive/data/0":
                o.writestr(name, z.read(name))
    with pytest.raises(ValueError, match="storage data/0 is missing"):
        load_state_dict(tmp_path / "c.pth")


def test_a_pickled_model_instead_of_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "model.pth"
    write_zip(path, {}, data_pkl=b"\x80\x02" + _global("__main__", "UnetGenerator") + b")R.")
    with pytest.raises(ValueError, match="refusing to load global __main__.UnetGenerator"):
        load_state_dict(path)


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_real_torch_save_files_are_read_exactly(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    net(torch.randn(2, 3, 5, 5))                  # running statistics move
    state = net.state_dict()
    state["transposed"] = torch.randn(3, 5).t()
    state["half"] = torch.randn(4).half()
    state["bf16"] = torch.randn(4).bfloat16()
    path = tmp_path / "net.pth"
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    loaded = load_state_dict(path)
    assert list(loaded) == list(state)
    for key, tensor in state.items():
        expected = tensor.float().numpy() if key == "bf16" else tensor.numpy()
        assert loaded[key].shape == tuple(tensor.shape)
        np.testing.assert_array_equal(loaded[key], expected)
    buf = io.BytesIO()
    torch.save({"x": torch.zeros(1)}, buf)        # a file object's archive has another name
    (tmp_path / "buf.pth").write_bytes(buf.getvalue())
    assert load_state_dict(tmp_path / "buf.pth")["x"].shape == (1,)
