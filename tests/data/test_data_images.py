import io

import numpy as np
import pytest
from PIL import Image

from p2p_cupy.data.images import ImageReadError, list_images, read_image, to_chw


def _save(img, path, **kw):
    img.save(path, **kw)
    return path


def test_grayscale_palette_and_cmyk_become_rgb(tmp_path):
    gray = _save(Image.fromarray(np.full((4, 6), 200, np.uint8)), tmp_path / "g.png")
    assert np.asarray(read_image(gray)).tolist() == [[[200] * 3] * 6] * 4
    pal = Image.new("P", (3, 2))
    pal.putpalette([10, 20, 30] + [0] * 765)
    assert np.asarray(read_image(_save(pal, tmp_path / "p.png")))[0, 0].tolist() == [10, 20, 30]
    cmyk = Image.new("CMYK", (2, 2), (0, 255, 0, 0))
    assert read_image(_save(cmyk, tmp_path / "c.jpg")).mode == "RGB"


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 32768, 65535]], np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "deep.png")
    assert Image.open(path).mode.startswith("I")
    assert np.asarray(read_image(path, channels=1)).tolist() == [[0, 128, 255]]


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)          # opaque
    rgba[0, 1] = (0, 0, 0, 0)               # fully transparent black
    img = read_image(_save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png"))
    assert np.asarray(img).tolist() == [[[10, 20, 30], [255, 255, 255]]]


def test_one_channel_reading_and_chw_range(tmp_path):
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = 255                          # a white pixel
    rgb[1, 1] = (255, 0, 0)                  # red: luminance 0.299 * 255 = 76
    img = read_image(_save(Image.fromarray(rgb), tmp_path / "x.png"), channels=1)
    assert img.mode == "L"
    chw = to_chw(img)
    assert chw.shape == (1, 2, 2) and chw.dtype == np.float32
    np.testing.assert_allclose(chw[0], [[1.0, -1.0], [-1.0, 76 / 127.5 - 1]], rtol=1e-6)
    assert to_chw(Image.fromarray(np.full((1, 1, 3), 255, np.uint8))).tolist() == [[[1.0]]] * 3


def test_truncated_and_garbage_files_name_the_file(tmp_path):
    png = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        png, "PNG")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(png.getvalue()[: len(png.getvalue()) // 2])
    with pytest.raises(ImageReadError, match="truncated.png: unreadable image"):
        read_image(truncated)
    garbage = tmp_path / "notes.jpg"
    garbage.write_text("not an image")
    with pytest.raises(ImageReadError, match="notes.jpg") as e:
        read_image(garbage)
    assert "\n" not in str(e.value)
    with pytest.raises(ImageReadError, match="missing.png"):
        read_image(tmp_path / "missing.png")


def test_list_images_is_sorted_and_filters_extensions(tmp_path):
    for name in ("b.PNG", "a.jpg", "c.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG"]
    with pytest.raises(ValueError, match="nowhere: folder not found"):
        list_images(tmp_path / "nowhere")
