import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from p2p_cupy.cli.main import main


def _photos(folder, n=3, size=(40, 32)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = np.full((size[1], size[0], 3), (40, 90, 160), np.uint8)
        y, x = rng.integers(4, 12, 2)
        img[y:y + 14, x:x + 18] = (230, 200, 30)
        Image.fromarray(img).save(folder / f"p{i}.png")
    return folder


def _cli(*args):
    result = CliRunner().invoke(main, ["data", *map(str, args)])
    return result


def test_combine_puts_a_left_of_b_per_phase(tmp_path):
    _photos(tmp_path / "A" / "train")
    _photos(tmp_path / "B" / "train")
    for p in (tmp_path / "B" / "train").iterdir():
        Image.fromarray(255 - np.asarray(Image.open(p))).save(p)
    result = _cli("combine", tmp_path / "A", tmp_path / "B", tmp_path / "out")
    assert result.exit_code == 0 and "wrote 3 pairs" in result.output
    ab = np.asarray(Image.open(tmp_path / "out" / "train" / "p1.png")).astype(int)
    assert ab.shape == (32, 80, 3) and (ab[:, :40] + ab[:, 40:] == 255).all()


def test_combine_refuses_mismatched_sizes_and_missing_partners_before_writing(tmp_path):
    _photos(tmp_path / "A")
    _photos(tmp_path / "B", n=2)
    result = _cli("combine", tmp_path / "A", tmp_path / "B", tmp_path / "out")
    assert result.exit_code == 1 and "p2.png: no B image with the same name" in result.output
    Image.new("RGB", (40, 30)).save(tmp_path / "B" / "p2.png")
    result = _cli("combine", tmp_path / "A", tmp_path / "B", tmp_path / "out")
    assert "p2.png: A is 40x32 but B" in result.output and "is 40x30" in result.output
    assert not (tmp_path / "out").exists()


def test_edges_colorize_and_blank_make_pairs_with_the_photo_on_the_right(tmp_path):
    src = _photos(tmp_path / "src")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    photo = np.asarray(Image.open(src / "p0.png"))
    for tool in ("edges", "colorize", "blank"):
        with pytest.warns(UserWarning, match="broken.png"):
            result = _cli(tool, src, tmp_path / tool)
        assert result.exit_code == 0, result.output
        assert "wrote 3 pairs" in result.output and "skipped 1 unreadable" in result.output
        ab = np.asarray(Image.open(tmp_path / tool / "p0.png"))
        assert ab.shape == (32, 80, 3)
        np.testing.assert_array_equal(ab[:, 40:], photo)
    edges = np.asarray(Image.open(tmp_path / "edges" / "p0.png"))[:, :40, 0]
    assert set(np.unique(edges)) == {0, 255} and 0.02 < (edges == 0).mean() < 0.3
    gray = np.asarray(Image.open(tmp_path / "colorize" / "p0.png"))[:, :40]
    assert (gray[..., 0] == gray[..., 2]).all()
    blanked = np.asarray(Image.open(tmp_path / "blank" / "p0.png"))[:, :40]
    hole = (blanked == 127).all(-1)
    assert 0.05 < hole.mean() < 0.3 and (blanked[~hole] == photo[~hole]).all()


def test_split_is_seeded_and_complete(tmp_path):
    src = _photos(tmp_path / "src", n=10)
    result = _cli("split", src, tmp_path / "out", "--val-fraction", "0.2", "--test-fraction",
                  "0.1")
    assert result.exit_code == 0 and "train: 7, val: 2, test: 1" in result.output
    names = sorted(p.name for phase in ("train", "val", "test")
                   for p in (tmp_path / "out" / phase).iterdir())
    assert names == sorted(p.name for p in src.iterdir())
    _cli("split", src, tmp_path / "again", "--val-fraction", "0.2", "--test-fraction", "0.1")
    assert sorted(p.name for p in (tmp_path / "again" / "val").iterdir()) == \
        sorted(p.name for p in (tmp_path / "out" / "val").iterdir())
    assert "fractions must be" in _cli("split", src, tmp_path / "x", "--val-fraction",
                                       "1.0").output
