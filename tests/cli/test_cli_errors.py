"""Every command fails in one line, through the one error boundary (cli/main.py): an
unwritable output (a path under a file: tests run as root, so chmod would not stop them),
a full disk, a folder where a file should be, options out of range. Nothing is written
outside --out."""
import errno

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from p2p_cupy.cli.main import main
from p2p_cupy.interop import convert as convert_module
from p2p_cupy.interop import pix2pix_names
from p2p_cupy.models import define_G

TINY = ["--netG", "unet_32", "--ngf", "2", "--ndf", "2", "--load-size", "32", "--crop-size",
        "32", "--device", "cpu", "--print-freq", "1"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(data root with train/ and test/, a 2-step run folder, a photo, a blocking file)."""
    root = tmp_path_factory.mktemp("errors")
    data = root / "data"
    rng = np.random.default_rng(0)
    for phase in ("train", "test"):
        (data / phase).mkdir(parents=True)
        for i in range(2):
            a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(np.concatenate([a, a], axis=1)).save(data / phase / f"{i}.png")
    result = _p2p("train", "--dataroot", data, "--out", root, "--name", "run", "--max-steps",
                  "2", *TINY)
    assert result.exit_code == 0, result.output
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / "photo.png")
    (root / "a_file").write_text("not a folder")
    return data, root / "run", root / "photo.png", root / "a_file"


def _p2p(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(result, *expected):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()     # train may have said what it started
    assert lines[-1].startswith("Error: ") and result.output.count("Error") == 1, result.output
    assert "Traceback" not in result.output
    for text in expected:
        assert str(text) in lines[-1], lines[-1]


def _torch_style_generator_state(*_):
    G = define_G("unet_32", ngf=2, use_dropout=False)
    names = pix2pix_names.module_names(G)
    return {pix2pix_names.reference_key(G, k, names): v for k, v in G.state_dict().items()}


def _commands(setup, out):
    """Each command that writes, with its output (folder or file) at `out`."""
    data, run, photo, _ = setup
    return {
        "train": ["train", "--dataroot", data, "--out", out, "--name", "x", "--max-steps", "1",
                  *TINY],
        "translate": ["translate", "--checkpoint", run, photo, "--out", out],
        "test": ["test", "--checkpoint", run, "--data", data, "--out", out, "--device", "cpu"],
        "synth-facades": ["data", "synth-facades", "--out", out, "--n-train", "1", "--n-val",
                          "0", "--n-test", "0", "--size", "16"],
        "convert": ["convert", photo, "--out", f"{out}/m.npz"],
        "colorize": ["data", "colorize", data / "train", out],
        "combine": ["data", "combine", data / "train", data / "test", out],
    }


@pytest.mark.parametrize("command", ["train", "translate", "test", "synth-facades", "convert",
                                     "colorize", "combine"])
def test_an_output_path_under_a_file_is_one_line_naming_it(setup, command, monkeypatch):
    monkeypatch.setattr(convert_module, "load_state_dict", _torch_style_generator_state)
    blocked = setup[3] / "sub"
    result = _p2p(*_commands(setup, blocked)[command])
    _one_line_error(result, setup[3], "Not a directory")


def _full_disk(*args, **kw):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("command", ["train", "translate", "test", "synth-facades", "convert",
                                     "colorize", "combine"])
def test_a_full_disk_is_one_line_naming_the_file(setup, command, tmp_path, monkeypatch):
    """The write itself fails (np.savez, Pillow's encoder): such an OSError carries no file
    name, so the writer adds the one it was writing."""
    monkeypatch.setattr(convert_module, "load_state_dict", _torch_style_generator_state)
    monkeypatch.setattr(np, "savez", _full_disk)
    monkeypatch.setattr(Image.Image, "save", _full_disk)
    result = _p2p(*_commands(setup, tmp_path / "out")[command])
    _one_line_error(result, "No space left on device", tmp_path / "out")


def test_convert_to_an_existing_folder_named_like_a_file(setup, tmp_path, monkeypatch):
    monkeypatch.setattr(convert_module, "load_state_dict", _torch_style_generator_state)
    (tmp_path / "model.npz").mkdir()
    result = _p2p("convert", setup[2], "--out", tmp_path / "model.npz")
    _one_line_error(result, tmp_path / "model.npz", "is a folder")
    assert list(tmp_path.iterdir()) == [tmp_path / "model.npz"]     # no temporary file left


def test_a_rename_onto_a_non_empty_folder_names_both_paths(setup, tmp_path, monkeypatch):
    """ENOTEMPTY and other two-path errors (os.replace onto a folder with files)."""
    from p2p_cupy.data import tools
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "keep.txt").write_text("user file")
    (tmp_path / "new").mkdir()

    def replace_folder(*args):
        import os
        os.replace(tmp_path / "new", tmp_path / "target")
    monkeypatch.setattr(tools, "colorize", replace_folder)
    result = _p2p("data", "colorize", setup[0] / "train", tmp_path / "o")
    _one_line_error(result, tmp_path / "new", tmp_path / "target", "Directory not empty")
    assert (tmp_path / "target" / "keep.txt").read_text() == "user file"


def test_a_run_folder_where_a_file_is_gives_one_line(setup, tmp_path):
    (tmp_path / "x").write_text("a file named like the run")
    result = _p2p("train", "--dataroot", setup[0], "--out", tmp_path, "--name", "x",
                  "--max-steps", "1", *TINY)
    _one_line_error(result, tmp_path / "x")


@pytest.mark.parametrize("option, value, expected", [
    ("--lr", "-1", "--lr -1.0: the learning rate must be > 0"),
    ("--lr", "0", "--lr 0.0"),
    ("--lr", "nan", "--lr nan"),
    ("--lr", "inf", "--lr inf"),
    ("--beta1", "1.5", "--beta1 1.5: Adam's beta1 must be in [0, 1)"),
    ("--beta1", "1", "--beta1 1.0"),
    ("--beta1", "-0.1", "--beta1 -0.1"),
    ("--lambda-l1", "-100", "--lambda-l1 -100.0: the L1 weight must be >= 0"),
    ("--lambda-l1", "nan", "--lambda-l1 nan"),
    ("--lambda-gan", "-1", "--lambda-gan -1.0: the GAN weight must be >= 0"),
    ("--lambda-gan", "inf", "--lambda-gan inf"),
    ("--seed", "-1", "--seed -1"),
    ("--crop-size", "64", "--crop-size 64: larger than --load-size 32"),
    ("--n-epochs", "0", "nothing to train"),
    ("--preprocess", "squash", "--preprocess 'squash'"),
])
def test_options_out_of_range_are_refused_in_one_line(setup, tmp_path, option, value, expected):
    args = ["train", "--dataroot", setup[0], "--out", tmp_path, "--name", "r", *TINY,
            option, value]
    if option == "--n-epochs":
        args += ["--n-epochs-decay", "0"]
    _one_line_error(_p2p(*args), expected)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../../x", "..", ".", "/abs/run", "a/b", "a\\b", "", " x",
                                  "-x", ".hidden", "x\ny", "x" * 129, "run\x00"])
def test_a_run_name_that_is_not_one_folder_is_refused(setup, tmp_path, name):
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    result = _p2p("train", "--dataroot", setup[0], "--out", out, "--name", name, "--max-steps",
                  "1", *TINY)
    _one_line_error(result, "--name")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []    # nothing written anywhere


def test_no_loss_left_for_the_generator_is_refused():
    from p2p_cupy.errors import P2PError
    from p2p_cupy.train.options import TrainOptions
    with pytest.raises(P2PError, match="--lambda-gan 0.0: 0 together with --lambda-l1 0"):
        TrainOptions(lambda_l1=0.0, lambda_gan=0.0)
    TrainOptions(lambda_l1=0.0)            # the GAN term alone still trains G
    TrainOptions(lambda_gan=0.0)           # and so does L1 alone


def test_a_sample_larger_than_a_gigabyte_is_warned_about():
    from p2p_cupy.train.options import LargeSampleWarning, TrainOptions
    with pytest.warns(LargeSampleWarning, match="--load-size 10000: one training sample takes 2.2 GB"):
        TrainOptions(load_size=10000, crop_size=256)
