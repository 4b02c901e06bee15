"""Wrong, damaged and crafted .npz checkpoints. Before, these gave KeyError, TypeError or
MemoryError tracebacks (or allocated what the file declared); now every one is a single
CheckpointError line naming the file, raised before any array data is read."""
import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from ab_pairs import write_random_pairs
from click.testing import CliRunner
from npz_files import npy_bytes, put_together, take_apart, used_members
from PIL import Image

from p2p_cupy import backend
from p2p_cupy.cli.main import main
from p2p_cupy.evaluation.inference import load_generator
from p2p_cupy.limits import LimitExceeded
from p2p_cupy.train import checkpoint, expected
from p2p_cupy.train.checkpoint import CheckpointError, CheckpointFile
from p2p_cupy.train.loop import Trainer
from p2p_cupy.train.options import TrainOptions
from p2p_cupy.train.run import start_or_resume


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A freshly started tiny run (unet_32, 4 filters) with its step-0 checkpoint."""
    root = tmp_path_factory.mktemp("crafted")
    write_random_pairs(root / "data" / "train", 2)
    opts = TrainOptions(dataroot=str(root / "data"), out=str(root), name="run", netG="unet_32",
                        ngf=4, ndf=4, load_size=32, crop_size=32, device="numpy")
    Trainer(opts, root / "run", backend.get_backend(opts.device)).save()
    return root / "run"


@pytest.fixture
def parts(run_dir):
    """(tree, members) of the run's checkpoint, to change and put back together."""
    return take_apart(checkpoint.latest_checkpoint(run_dir))


def _resume(run_dir, tmp_path, tree, members, **kw):
    """Resume a copy of the run whose latest.npz is the given tree and members."""
    copy = Path(tempfile.mkdtemp(dir=tmp_path)) / "run"
    shutil.copytree(run_dir, copy)
    put_together(checkpoint.latest_checkpoint(copy), tree, members, **kw)
    return start_or_resume(None, {}, resume=copy)


def _first(members, prefix):
    return next(k for k in sorted(members) if k.startswith(prefix))


def test_the_untouched_checkpoint_resumes_and_translates(run_dir, parts, tmp_path):
    tree, members = parts
    ckpt = CheckpointFile(checkpoint.latest_checkpoint(run_dir))
    opts = expected.saved_options(ckpt)
    from p2p_cupy.train.build import resume_spec
    ckpt.check(resume_spec(opts))                 # the real thing fits its own spec
    G, _ = load_generator(run_dir)
    assert G.num_parameters() > 0


@pytest.mark.parametrize("change, problem", [
    (lambda t, m: t.pop("D"), "holds no D"),
    (lambda t, m: t["G"].pop(sorted(t["G"])[0]), r"G does not fit this model: missing "),
    (lambda t, m: t["opt_G"].pop("m.0"), "opt_G does not fit this model: missing m.0"),
    (lambda t, m: t["loader"].pop("seed"), "loader does not fit this model: missing seed"),
    (lambda t, m: t["G"].update(extra=t["G"][sorted(t["G"])[0]]),
     "G does not fit this model: unexpected extra"),
    (lambda t, m: t.update(step="3"), "step should be int, got str"),
    (lambda t, m: t.update(step=True), "step should be int, got bool"),
    (lambda t, m: t.update(loader=[1, 2]), "loader should be a dict"),
    (lambda t, m: t["loader"].update(position=1.5), "loader.position should be int"),
    (lambda t, m: t["G"].update({sorted(t["G"])[0]: 0.5}), "should be an array of shape"),
    (lambda t, m: t["options"].update(ngf="4"), "option ngf is '4', expected int"),
    (lambda t, m: t["options"].update(no_flip=1), "option no_flip is 1, expected bool"),
    (lambda t, m: t["options"].update(ngf=10 ** 6), r"option ngf is 1000000, outside 1\.\.512"),
    (lambda t, m: t["options"].update(netG="resnet_9blocks", n_blocks=10 ** 6),
     r"option n_blocks is 1000000, outside 0\.\.64"),
    (lambda t, m: t["options"].update(n_layers_D=0), r"option n_layers_D is 0, outside 1\.\.8"),
    (lambda t, m: t["options"].update(evil=1), "unknown training options"),
    (lambda t, m: t.update(options=[]), "holds no training options"),
    (lambda t, m: t.update(options={}) or t.pop("options"), "holds no training options"),
])
def test_checkpoints_with_missing_parts_or_wrong_types_are_refused(run_dir, parts, tmp_path,
                                                                   change, problem):
    tree, members = parts
    change(tree, members)
    members = used_members(tree, members)       # drop the arrays nothing refers to now
    with pytest.raises(CheckpointError, match=problem) as info:
        _resume(run_dir, tmp_path, tree, members)
    assert "latest.npz" in str(info.value) and "\n" not in str(info.value)


def _replace_array(members, key, **npy):
    members[key] = npy_bytes(**npy)


@pytest.mark.parametrize("npy, problem", [
    (dict(array=np.zeros((2, 2), np.float32)), r"has shape \(2, 2\), the model expects"),
    (dict(array=np.zeros(0, np.float32)), "the model expects"),
    (dict(shape=(10 ** 6, 10 ** 6), descr="<f4"), r"declares shape \(1000000, 1000000\)"),
    (dict(shape=(2 ** 62, 2 ** 62), descr="<f8"), "declares shape"),
    (dict(array=np.array([object()], dtype=object)), "has dtype object"),
    (dict(array=np.array(["abc"])), "has dtype <U3"),
    (dict(array=np.zeros(3, [("a", "<f4"), ("b", "<i4")])), "has dtype"),
    (dict(array=np.zeros(3, np.complex64)), "has dtype complex64"),
    (dict(shape=(4,), descr="<f4", data=bytes(8)), "declares shape .* but holds 8"),
    (dict(shape=(4,), descr="<f4", data=bytes(17)), "declares shape .* but holds 17"),
    (dict(shape=(4,), descr="<f4", data=bytes(16), version=(2, 0)), "model expects"),
])
def test_arrays_with_wrong_or_lying_headers_are_refused(run_dir, parts, tmp_path, npy, problem):
    tree, members = parts
    _replace_array(members, _first(members, "s/G/"), **npy)
    with pytest.raises(CheckpointError, match=problem):
        _resume(run_dir, tmp_path, tree, members)


def test_a_float_array_where_an_integer_belongs_is_refused(run_dir, parts, tmp_path):
    tree, members = parts
    _replace_array(members, tree["opt_D"]["step"]["__array__"], array=np.array(1.5))
    with pytest.raises(CheckpointError, match="has dtype float64, the model expects int64"):
        _resume(run_dir, tmp_path, tree, members)


def test_other_byte_orders_and_layouts_of_the_right_arrays_load(run_dir, parts, tmp_path):
    tree, members = parts
    name = next(n for n, ref in tree["G"].items() if ref["__array__"].endswith("weight"))
    key = tree["G"][name]["__array__"]
    weight = np.load(io.BytesIO(members[key]))
    assert weight.ndim == 4
    members[key] = npy_bytes(array=np.asfortranarray(weight.astype(">f4")))
    G, _ = load_generator(put_together(tmp_path / "g.npz", tree, members))
    np.testing.assert_array_equal(G.state_dict()[name], weight)


NESTED = []
for _ in range(40):
    NESTED = [NESTED]


@pytest.mark.parametrize("damage, problem", [
    (dict(raw_tree=npy_bytes(array=np.array("{not json"))), "not a readable p2p-cupy"),
    (dict(raw_tree=npy_bytes(array=np.array("[" * 100_000 + "]" * 100_000))), "readable"),
    (dict(raw_tree=npy_bytes(array=np.array(json.dumps({"a": NESTED})))),
     "nested more than 32 deep"),
    (dict(raw_tree=npy_bytes(array=np.array("[1, 2]"))), "tree is not a dict"),
    (dict(raw_tree=npy_bytes(array=np.array(b"{}"))), "__tree__ is not a text entry"),
    (dict(raw_tree=npy_bytes(array=np.zeros(3))), "__tree__ is not a text entry"),
    (dict(raw_tree=npy_bytes(shape=(), descr="<U100000000", data=b"")), "__tree__ .*declares"),
])
def test_damaged_trees_are_refused(run_dir, parts, tmp_path, damage, problem):
    tree, members = parts
    with pytest.raises(CheckpointError, match=problem):
        _resume(run_dir, tmp_path, tree, members, **damage)


def test_arrays_and_references_must_match_one_to_one(run_dir, parts, tmp_path):
    tree, members = parts
    key = _first(members, "s/D/")
    with pytest.raises(CheckpointError, match=f"arrays missing from the file: {key}"):
        _resume(run_dir, tmp_path, tree, {k: v for k, v in members.items() if k != key})
    members["stowaway"] = npy_bytes(array=np.zeros(3))
    with pytest.raises(CheckpointError, match="arrays the checkpoint does not use: stowaway"):
        _resume(run_dir, tmp_path, tree, members)
    members.pop("stowaway")
    members["notes.txt/"] = b"hello"
    with pytest.raises(CheckpointError, match="holds 'notes.txt/', which is not an array"):
        _resume(run_dir, tmp_path, tree, members)
    tree["step"] = {"__array__": 7}
    members.pop("notes.txt/")
    with pytest.raises(CheckpointError, match="TypeError: an array reference"):
        _resume(run_dir, tmp_path, tree, members)


def test_declared_sizes_over_the_memory_cap_are_refused_before_reading(run_dir, parts,
                                                                       tmp_path, monkeypatch):
    tree, members = parts
    monkeypatch.setenv("P2P_MAX_LOAD_BYTES", "20K")
    with pytest.raises(LimitExceeded, match="latest.npz: array .* would need .*P2P_MAX_LOAD"):
        _resume(run_dir, tmp_path, tree, members)


def test_damaged_zips_and_arrays_are_one_line_errors(run_dir, parts, tmp_path):
    tree, members = parts
    path = put_together(tmp_path / "c.npz", tree, members, compression=zipfile.ZIP_DEFLATED)
    assert CheckpointFile(path).load()["step"] == 0
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(f"{_first(members, 's/G/')}.npy")
    data[info.header_offset + 30 + len(info.filename) + 2] ^= 0xFF   # inside the deflate data
    (tmp_path / "d.npz").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="d.npz"):
        checkpoint.load_checkpoint(tmp_path / "d.npz")
    (tmp_path / "t.npz").write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="t.npz: not a readable"):
        checkpoint.load_checkpoint(tmp_path / "t.npz")


def test_translate_and_resume_print_one_line(run_dir, parts, tmp_path):
    tree, members = parts
    tree["G"].pop(sorted(tree["G"])[0])
    bad = put_together(tmp_path / "bad.npz", tree, used_members(tree, members))
    Image.new("RGB", (32, 32)).save(tmp_path / "in.png")
    result = CliRunner().invoke(main, ["translate", "--checkpoint", str(bad),
                                       str(tmp_path / "in.png"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "bad.npz: G does not fit this model: missing" in result.output
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    put_together(checkpoint.latest_checkpoint(copy), tree, used_members(tree, members))
    result = CliRunner().invoke(main, ["train", "--resume", str(copy)])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "latest.npz: G does not fit this model" in result.output
