"""No command writes over its own inputs, and inputs that share a stem get distinct
outputs (p2p_cupy/output_paths.py), in translate, test and every data tool."""
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from p2p_cupy.cli.main import main
from p2p_cupy.output_paths import OutputClash, distinct_stems, plan_outputs, run_owning

TINY = ["--netG", "unet_32", "--ngf", "2", "--ndf", "2", "--load-size", "32", "--crop-size",
        "32", "--device", "cpu"]


def _p2p(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _photo(path, value, size=32):
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path)
    return path


def _files(folder):
    """Every file under folder and its bytes: a snapshot to compare after a refusal."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(result, *expected):
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    for text in expected:
        assert str(text) in result.output


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    data = root / "data"
    for phase in ("train", "test"):
        (data / phase).mkdir(parents=True)
        for name, value in (("a.png", 10), ("a.jpg", 200), ("b.png", 90)):
            Image.fromarray(np.concatenate([np.full((32, 32, 3), value, np.uint8)] * 2,
                                           axis=1)).save(data / phase / name, quality=95)
    result = _p2p("train", "--dataroot", data, "--out", root, "--name", "run", "--max-steps",
                  "1", *TINY)
    assert result.exit_code == 0, result.output
    return data, root / "run"


def test_distinct_stems_keep_unique_names_and_disambiguate_shared_ones():
    assert distinct_stems(["x/a.png", "x/b.jpg"]) == ["a", "b"]
    assert distinct_stems(["x/a.png", "x/a.jpg", "x/A.PNG"]) == ["a_png", "a_jpg", "A_png_2"]
    # a disambiguated name that is another input's stem still gets its own name
    assert distinct_stems(["x/a.png", "x/a.jpg", "x/a_png.bmp"]) == ["a_png", "a_jpg", "a_png_2"]
    assert distinct_stems(["x/a.tar.png", "y/a.tar.jpg"]) == ["a.tar_png", "a.tar_jpg"]


def test_plan_outputs_refuses_an_input_a_link_to_it_and_the_input_folder(tmp_path):
    photo = _photo(tmp_path / "p.png", 1)
    with pytest.raises(OutputClash, match="would overwrite the input"):
        plan_outputs([photo], tmp_path)
    (tmp_path / "link").symlink_to(tmp_path)
    with pytest.raises(OutputClash, match="would overwrite the input"):
        plan_outputs([photo], tmp_path / "link")                  # same folder, other name
    (tmp_path / "hard").mkdir()
    (tmp_path / "hard" / "p.png").hardlink_to(photo)
    with pytest.raises(OutputClash, match="would overwrite the input"):
        plan_outputs([photo], tmp_path / "hard")                  # same file, other path
    with pytest.raises(OutputClash, match="is the folder the inputs are read from"):
        plan_outputs([_photo(tmp_path / "q.jpg", 2)], tmp_path / "link", away_from_inputs=True)
    assert plan_outputs([tmp_path / "q.jpg"], tmp_path / "out") == [(tmp_path / "out/q.png",)]


def test_translate_refuses_to_replace_its_input(run, tmp_path, monkeypatch):
    _, run_dir = run
    photo = _photo(tmp_path / "photo.png", 77)
    before = photo.read_bytes()
    monkeypatch.chdir(tmp_path)
    _refused(_p2p("translate", "--checkpoint", run_dir, "photo.png", "--out", "."),
             "photo.png: would overwrite the input photo.png")
    assert photo.read_bytes() == before


def test_translate_gives_inputs_that_share_a_stem_their_own_outputs(run, tmp_path):
    _, run_dir = run
    _photo(tmp_path / "x.png", 10)
    _photo(tmp_path / "x.jpg", 240)
    result = _p2p("translate", "--checkpoint", run_dir, tmp_path / "x.png", tmp_path / "x.jpg",
                  "--out", tmp_path / "o", "--eval")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["x_jpg.png", "x_png.png"]
    a, b = (np.asarray(Image.open(tmp_path / "o" / n)) for n in ("x_png.png", "x_jpg.png"))
    assert not np.array_equal(a, b)


def test_test_command_names_pairs_that_share_a_stem_apart(run, tmp_path):
    data, run_dir = run
    result = _p2p("test", "--checkpoint", run_dir, "--data", data, "--out", tmp_path, "--eval",
                  "--device", "cpu")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert names == sorted(f"{s}_{k}.png" for s in ("a_png", "a_jpg", "b")
                           for k in ("input", "output", "target"))
    import json
    assert sorted(json.loads((tmp_path / "metrics.json").read_text())["per_image"]) == [
        "a.jpg", "a.png", "b.png"]


def test_test_command_refuses_to_write_its_images_into_the_data(run, tmp_path):
    """--out whose images/ folder is the data's test folder (through a link)."""
    data, run_dir = run
    before = sorted(p.name for p in (data / "test").iterdir())
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "images").symlink_to(data / "test")
    _refused(_p2p("test", "--checkpoint", run_dir, "--data", data, "--out", tmp_path / "out",
                  "--device", "cpu"), "is the folder the inputs are read from")
    assert sorted(p.name for p in (data / "test").iterdir()) == before


@pytest.mark.parametrize("tool", ["colorize", "edges", "blank"])
def test_data_tools_refuse_to_write_into_the_source_folder(tool, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    _photo(photos / "p.jpg", 50)
    _photo(photos / "q.png", 150)
    before = _files(photos)
    _refused(_p2p("data", tool, photos, photos), "is the folder the inputs are read from")
    _refused(_p2p("data", tool, photos, tmp_path / "." / "photos"), "is the folder the inputs")
    assert _files(photos) == before


@pytest.mark.parametrize("tool", ["colorize", "edges", "blank"])
def test_data_tools_give_photos_that_share_a_stem_their_own_pairs(tool, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    _photo(photos / "p.jpg", 50)
    _photo(photos / "p.png", 150)
    _photo(photos / "P.bmp", 250)
    result = _p2p("data", tool, photos, tmp_path / "pairs")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "pairs").iterdir()) == [
        "P_bmp.png", "p_jpg.png", "p_png.png"]


def test_combine_refuses_its_inputs_folders_and_names_shared_stems_apart(tmp_path):
    for side in ("A", "B"):
        (tmp_path / side).mkdir()
        for name in ("x.png", "x.jpg"):
            _photo(tmp_path / side / name, 60)
    _refused(_p2p("data", "combine", tmp_path / "A", tmp_path / "B", tmp_path / "B"),
             "is the folder the inputs are read from")
    result = _p2p("data", "combine", tmp_path / "A", tmp_path / "B", tmp_path / "AB")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "AB").iterdir()) == ["x_jpg.png", "x_png.png"]


def test_split_refuses_to_copy_a_folder_onto_itself(tmp_path):
    (tmp_path / "train").mkdir()
    photo = _photo(tmp_path / "train" / "p.png", 5)
    before = photo.read_bytes()
    _refused(_p2p("data", "split", tmp_path / "train", tmp_path), "the inputs are read from")
    assert photo.read_bytes() == before


@pytest.mark.parametrize("command", [
    ("test", "--checkpoint", "{run}", "--data", "{data}", "--out", "{run}"),
    ("inspect", "activations", "--checkpoint", "{run}", "--out", "{run}", "{pair}"),
    ("translate", "--checkpoint", "{run}", "{photo}", "--out", "{run}/checkpoints"),
    ("translate", "--checkpoint", "{run}", "{photo}", "--out", "{run}/samples"),
    ("export", "{run}", "--out", "{run}/checkpoints/latest.npz", "--no-verify"),
    ("convert", "{pth}", "--out", "{run}/checkpoints/latest.npz"),
], ids=lambda c: "-".join(c[:2]))
def test_no_command_writes_over_a_training_run_s_own_files(run, tmp_path, command):
    """A run folder's report, log, checkpoints and samples are written by training alone:
    every other command that writes files refuses them before writing anything."""
    data, run_dir = run
    (tmp_path / "model.pth").write_bytes(b"not read: the output is checked first")
    where = {"run": run_dir, "data": data, "pair": data / "test" / "b.png",
             "photo": _photo(tmp_path / "photo.png", 50), "pth": tmp_path / "model.pth"}
    before = _files(run_dir)
    _refused(_p2p(*(part.format(**where) for part in command)), "training run", run_dir)
    assert _files(run_dir) == before


def test_every_file_a_training_run_writes_is_one_the_guard_knows(run):
    """output_paths names a run's files without importing train (it sits below it): every
    file a real run wrote must be one of them, or the guard above would miss it."""
    _, run_dir = run
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.parent.name == "checkpoints" for p in files) and len(files) > 3
    assert {p: run_owning(p) for p in files} == {p: run_dir for p in files}
