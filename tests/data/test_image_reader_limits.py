"""The one image reader: a cap on declared pixels checked before decoding, the same pixels
for translate as for training, and random damage to real PNG/JPEG/other files ending in an
image or ImageReadError, never another exception."""
import io
import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from p2p_cupy.data.aligned import BadImageWarning
from p2p_cupy.data import AlignedDataset, Preprocess
from p2p_cupy.data.images import (MAX_PIXELS_ENV, ImageReadError, image_size, read_image,
                                  to_chw)
from p2p_cupy.errors import P2PError
from p2p_cupy.models import define_G
from p2p_cupy.evaluation.inference import read_input


def _png_declaring(width, height, bit_depth=16, color_type=0, idat=b""):
    """A tiny PNG whose header declares width x height; its pixel data is `idat`."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(idat))
            + chunk(b"IEND", b""))


def test_the_issues_130_byte_png_declaring_26000x6800_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_declaring(26000, 6800))
    assert len(path.read_bytes()) < 130
    started = time.perf_counter()
    for read in (read_image, image_size):
        with pytest.raises(ImageReadError) as error:
            read(path)
        message = str(error.value)
        assert message.startswith(f"{path}: declares 26000x6800 = 176,800,000 pixels")
        assert "cap of 100,000,000" in message and MAX_PIXELS_ENV in message
    assert time.perf_counter() - started < 1.0         # the header only: nothing decoded


@pytest.mark.parametrize("make", [
    lambda: _png_declaring(20000, 20000, 8, 2),                       # RGB PNG
    lambda: _png_declaring(1, 200_000_000, 1, 0),                     # 1-bit, one column
    lambda: _jpeg_declaring(65000, 65000),                            # JPEG header
    lambda: b"P6\n30000 30000\n255\n" + b"\0" * 16,                   # PPM header
    lambda: b"BM" + struct.pack("<IHHIIiiHH", 0, 0, 0, 54, 40, 12000, 12000, 1, 24)
    + b"\0" * 24,                                                     # BMP header
])
def test_other_formats_declaring_too_many_pixels_are_refused_from_the_header(tmp_path, make):
    path = tmp_path / "big.img"
    path.write_bytes(make())
    with pytest.raises(ImageReadError, match="pixels, more than the cap"):
        read_image(path)


def _jpeg_declaring(width, height):
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_the_cap_is_set_by_an_environment_variable(tmp_path, monkeypatch):
    path = tmp_path / "wide.png"
    Image.new("RGB", (300, 200), (5, 6, 7)).save(path)
    monkeypatch.setenv(MAX_PIXELS_ENV, "59999")
    with pytest.raises(ImageReadError, match="300x200 = 60,000 pixels, more than the cap of 59,999"):
        read_image(path)
    monkeypatch.setenv(MAX_PIXELS_ENV, "60000")
    assert read_image(path).size == (300, 200)
    monkeypatch.setenv(MAX_PIXELS_ENV, "0")                       # no cap at all
    assert read_image(path).size == (300, 200)
    for bad in ("lots", "-5", "1e9"):
        monkeypatch.setenv(MAX_PIXELS_ENV, bad)
        with pytest.raises(P2PError, match=MAX_PIXELS_ENV):
            read_image(path)


def test_raising_the_cap_above_pillows_own_limit_works(tmp_path, monkeypatch):
    """Pillow refuses images over 2 x its MAX_IMAGE_PIXELS itself; ours replaces it."""
    path = tmp_path / "declared.png"
    path.write_bytes(_png_declaring(13500, 13500, 1, 0))          # 182 MP, 1 bit, no data
    monkeypatch.setenv(MAX_PIXELS_ENV, str(300_000_000))
    with pytest.raises(ImageReadError) as error:                 # gets to decoding, which fails
        read_image(path)
    assert "more than the cap" not in str(error.value) and "bomb" not in str(error.value)
    assert "truncated" in str(error.value)


def test_a_data_set_skips_an_oversized_image_up_front_with_a_warning(tmp_path):
    (tmp_path / "train").mkdir()
    Image.new("RGB", (64, 32)).save(tmp_path / "train" / "ok.png")
    (tmp_path / "train" / "bomb.png").write_bytes(_png_declaring(30000, 30000))
    with pytest.warns(BadImageWarning, match="bomb.png: declares 30000x30000"):
        ds = AlignedDataset(tmp_path, preprocess=Preprocess("resize_and_crop", 32, 32))
    assert len(ds) == 1


@pytest.mark.parametrize("pixels", ["16-bit gray", "transparent RGBA", "palette with alpha",
                                    "grayscale + alpha", "CMYK"])
def test_translate_reads_an_image_exactly_as_training_does(tmp_path, pixels):
    """The issue: translate used Pillow's convert("RGB"): a 16-bit PNG was all 255 there
    and mid-gray in training; a transparent pixel black there and white in training."""
    rng = np.random.default_rng(0)
    if pixels == "16-bit gray":
        img = Image.fromarray(rng.integers(0, 65536, (32, 32), dtype=np.uint16))
    elif pixels == "transparent RGBA":
        img = Image.fromarray(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8), "RGBA")
    elif pixels == "palette with alpha":
        img = Image.fromarray(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8), "RGBA").quantize(8)
    elif pixels == "grayscale + alpha":
        img = Image.fromarray(rng.integers(0, 256, (32, 32, 2), dtype=np.uint8), "LA")
    else:
        img = Image.fromarray(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8), "CMYK")
    path = tmp_path / ("x.tif" if pixels == "CMYK" else "x.png")
    img.save(path)
    G = define_G("unet_32", ngf=2)
    np.testing.assert_array_equal(read_input(path, G.input_nc), to_chw(read_image(path)))
    if pixels == "16-bit gray":
        assert 0.2 < (read_input(path, G.input_nc).mean() + 1) / 2 < 0.8          # mid-gray, not 255


def test_translate_refuses_an_oversized_image_with_the_cap_message(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_declaring(26000, 6800))
    with pytest.raises(ImageReadError, match="more than the cap"):
        read_input(path, define_G("unet_32", ngf=2).input_nc)


# --- fuzzing: real files, randomly damaged ------------------------------------------------------
def _valid_files():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    files = {}
    for fmt, kw in (("PNG", {}), ("JPEG", {"quality": 90}), ("JPEG", {"progressive": True}),
                    ("BMP", {}), ("GIF", {}), ("TIFF", {}), ("WEBP", {}), ("PPM", {})):
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, fmt, **kw)
        files[f"{fmt}{'-p' if kw.get('progressive') else ''}"] = buf.getvalue()
    deep = io.BytesIO()
    Image.fromarray(rng.integers(0, 65536, (6, 5), dtype=np.uint16)).save(deep, "PNG")
    files["PNG16"] = deep.getvalue()
    rgba = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (6, 5, 4), dtype=np.uint8), "RGBA").save(rgba, "PNG")
    files["PNGA"] = rgba.getvalue()
    return files


VALID = _valid_files()


@st.composite
def damaged(draw):
    """A valid file with a few random edits: flipped bytes, overwritten runs, cuts,
    insertions, duplicated spans, and header size fields set to extremes."""
    data = bytearray(VALID[draw(st.sampled_from(sorted(VALID)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "overwrite", "cut", "insert", "repeat", "big"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            run = draw(st.binary(min_size=1, max_size=8))
            data[at:at + len(run)] = run
        elif kind == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "repeat":
            data[at:at] = data[at:at + draw(st.integers(1, 64))]
        else:                                   # a 16- or 32-bit field set to a huge value
            data[at:at + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff",
                                                    b"\x00\x00\xff\xff", b"\xff\xff"]))
    return bytes(data)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.one_of(
    damaged(),
    st.binary(max_size=300),                   # and random bytes behind each format's magic
    *(st.builds(lambda b, magic=magic: magic + b, st.binary(max_size=200))
      for magic in (b"GIF89a", b"BM", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"))))
def test_damaged_real_files_give_an_image_or_our_error(tmp_path, data):
    path = tmp_path / "fuzz.img"
    path.write_bytes(data)
    try:
        img = read_image(path)
    except ImageReadError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)
    else:
        assert img.mode == "RGB" and img.width * img.height > 0
        assert img.width * img.height <= 100_000_000
