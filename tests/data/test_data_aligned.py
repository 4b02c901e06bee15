import numpy as np
import pytest
from PIL import Image

from p2p_cupy.data import AlignedDataset, BadImageWarning, ImageReadError, Preprocess


def _ab(root, phase, name, a, b):
    (root / phase).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([a, b], axis=1)).save(root / phase / name)


def _pair(seed, h=40, w=40):
    """A: a gradient with a random bright square; B: A's negative (alignment is testable)."""
    rng = np.random.default_rng(seed)
    a = np.tile(np.linspace(0, 200, w, dtype=np.uint8)[None, :, None], (h, 1, 3))
    y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
    a[y:y + 8, x:x + 8] = 255
    return a, 255 - a


@pytest.fixture
def ab_root(tmp_path):
    for i in range(5):
        _ab(tmp_path, "train", f"{i}.png", *_pair(i))
    return tmp_path


def test_ab_pairs_are_split_aligned_and_scaled(ab_root):
    ds = AlignedDataset(ab_root, "train", preprocess=Preprocess("resize_and_crop", 48, 32))
    assert len(ds) == 5 and ds.name(0) == "0"
    for seed in range(10):
        a, b = ds.load(seed % 5, np.random.default_rng(seed))
        assert a.shape == b.shape == (3, 32, 32) and a.dtype == np.float32
        assert -1 <= a.min() and a.max() <= 1
        # B is A's negative in uint8, so after the same crop and flip a + b == 0 (up to
        # bicubic rounding): the crop offset and the flip were shared.
        assert np.abs(a + b).max() < 0.02


def test_direction_swaps_and_one_channel_input(ab_root):
    p = Preprocess("none", 40, 40, no_flip=True)
    a, b = AlignedDataset(ab_root, preprocess=p).load(0)
    b2, a2 = AlignedDataset(ab_root, direction="BtoA", preprocess=p).load(0)
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)
    gray_in, color_out = AlignedDataset(ab_root, preprocess=p, input_nc=1).load(0)
    assert gray_in.shape == (1, 40, 40) and color_out.shape == (3, 40, 40)


def test_two_folder_layout_matches_names(tmp_path):
    for phase in ("A/train", "B/train"):
        (tmp_path / phase).mkdir(parents=True)
    for i in range(3):
        a, b = _pair(i)
        Image.fromarray(a).save(tmp_path / "A/train" / f"{i}.png")
        Image.fromarray(b).save(tmp_path / "B/train" / f"{i}.png")
    ds = AlignedDataset(tmp_path, preprocess=Preprocess("crop", 40, 32))
    a, b = ds.load(1, np.random.default_rng(0))
    assert a.shape == (3, 32, 32) and np.abs(a + b).max() < 1e-6


def test_max_dataset_size_keeps_the_first_files(ab_root):
    ds = AlignedDataset(ab_root, preprocess=Preprocess("none"), max_dataset_size=2)
    assert [ds.name(i) for i in range(len(ds))] == ["0", "1"]


# --- bad input: each one line naming the file ----------------------------------------------
def _one_line_error(match, *args, **kw):
    with pytest.raises(ValueError, match=match) as e:
        AlignedDataset(*args, **kw)
    assert "\n" not in str(e.value)


def test_missing_and_empty_phase_folders(tmp_path):
    _one_line_error(r"train: phase folder 'train' not found", tmp_path)
    (tmp_path / "train").mkdir()
    _one_line_error(r"train: no images", tmp_path)
    (tmp_path / "train" / "readme.txt").write_text("x")
    _one_line_error(r"train: no images", tmp_path)


def test_odd_width_mismatched_and_too_small_images_are_errors_when_alone(tmp_path):
    (tmp_path / "train").mkdir()
    Image.new("RGB", (81, 40)).save(tmp_path / "train" / "odd.png")
    _one_line_error(r"odd.png: AB image width 81 is odd", tmp_path)
    Image.new("RGB", (40, 20)).save(tmp_path / "train" / "odd.png")
    _one_line_error(r"odd.png: image 20x20 is smaller than the crop 32x32",
                    tmp_path, preprocess=Preprocess("crop", 32, 32))
    for side, size in (("A", (40, 40)), ("B", (40, 30))):
        (tmp_path / side / "train").mkdir(parents=True)
        Image.new("RGB", size).save(tmp_path / side / "train" / "p.png")
    _one_line_error(r"p.png: A is 40x40 but B .* is 40x30", tmp_path)


def test_a_corrupt_file_in_a_large_folder_is_warned_counted_and_skipped(ab_root):
    (ab_root / "train" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    Image.new("RGB", (41, 40)).save(ab_root / "train" / "odd.png")
    with pytest.warns(BadImageWarning) as record:
        ds = AlignedDataset(ab_root, preprocess=Preprocess("none"))
    assert len(ds) == 4 and len(ds.skipped) == 2
    messages = [str(w.message) for w in record]
    assert any("2.png: unreadable image" in m for m in messages)
    assert any("odd.png: AB image width 41 is odd" in m for m in messages)


def test_truncation_found_only_when_decoding_raises_our_error(ab_root):
    path = ab_root / "train" / "3.png"
    path.write_bytes(path.read_bytes()[:-60])          # header fine, pixels cut
    ds = AlignedDataset(ab_root, preprocess=Preprocess("none"))
    with pytest.raises(ImageReadError, match="3.png: unreadable image"):
        ds.load(3)


def test_four_channel_inputs_keep_alpha_and_three_channel_targets_are_flattened(tmp_path):
    (tmp_path / "train").mkdir()
    ab = np.zeros((8, 16, 4), np.uint8)
    ab[:, :8] = (10, 20, 30, 0)            # A: transparent, its color must survive
    ab[:, 8:] = (200, 100, 50, 0)          # B: transparent, composited onto white as RGB
    Image.fromarray(ab, "RGBA").save(tmp_path / "train" / "0.png")
    a, b = AlignedDataset(tmp_path, preprocess=Preprocess("none", 8, 8, True),
                          input_nc=4).load(0)
    assert a.shape == (4, 8, 8) and b.shape == (3, 8, 8)
    np.testing.assert_allclose(a[:, 0, 0], np.array([10, 20, 30, 0]) / 127.5 - 1, atol=1e-6)
    np.testing.assert_allclose(b[:, 0, 0], 1.0)
    with pytest.raises(ValueError, match="1, 3 or 4"):
        AlignedDataset(tmp_path, input_nc=2)
