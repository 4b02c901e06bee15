import numpy as np
import pytest
from PIL import Image

from p2p_cupy.data import transforms
from p2p_cupy.data.transforms import Params, Preprocess, apply, get_params


def _img(w, h, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8))


@pytest.mark.parametrize("mode, size, expected", [
    ("resize_and_crop", (300, 200), (32, 32)),
    ("crop", (50, 40), (32, 32)),
    ("scale_width", (80, 20), (48, 32)),        # height max(48 * 20 / 80, crop) = 32
    ("scale_width", (96, 120), (48, 60)),
    ("scale_width_and_crop", (96, 120), (32, 32)),
    ("none", (51, 41), (52, 40)),               # each side to the nearest multiple of 4
])
def test_every_mode_gives_the_reference_size(mode, size, expected):
    p = Preprocess(mode, load_size=48, crop_size=32)
    params = get_params(p, size, np.random.default_rng(0))
    assert apply(_img(*size), p, params).size == expected


def test_resize_is_pil_bicubic_and_crop_is_at_the_drawn_offset():
    p = Preprocess("resize_and_crop", 40, 32, no_flip=True)
    img = _img(30, 20)
    out = apply(img, p, Params(5, 7, False))
    ref = np.asarray(img.resize((40, 40), Image.BICUBIC))[7:39, 5:37]
    np.testing.assert_array_equal(np.asarray(out), ref)


def test_flip_mirrors_left_and_right():
    p = Preprocess("none", 8, 8)
    img = _img(8, 4)
    flipped = np.asarray(apply(img, p, Params(flip=True)))
    np.testing.assert_array_equal(flipped, np.asarray(img)[:, ::-1])


def test_params_cover_every_offset_and_both_flips_and_repeat_for_a_seed():
    p = Preprocess("resize_and_crop", 35, 32)
    draws = [get_params(p, (100, 100), np.random.default_rng(s)) for s in range(400)]
    assert {d.crop_x for d in draws} == set(range(4)) == {d.crop_y for d in draws}
    assert 150 < sum(d.flip for d in draws) < 250
    again = [get_params(p, (100, 100), np.random.default_rng(s)) for s in range(400)]
    assert draws == again
    no_flip = Preprocess("resize_and_crop", 35, 32, no_flip=True)
    assert not any(get_params(no_flip, (9, 9), np.random.default_rng(s)).flip for s in range(50))


def test_scale_width_and_crop_offsets_follow_the_scaled_height():
    p = Preprocess("scale_width_and_crop", 40, 32)
    ys = {get_params(p, (20, 30), np.random.default_rng(s)).crop_y for s in range(300)}
    assert ys == set(range(60 - 32 + 1))        # scaled to 40 x 60


def test_bad_options_and_small_images_are_named():
    with pytest.raises(ValueError, match="unknown mode 'zoom'"):
        Preprocess("zoom")
    with pytest.raises(ValueError, match="load_size 20 is smaller than crop_size 32"):
        Preprocess("resize_and_crop", 20, 32)
    with pytest.raises(ValueError, match=r"x.png: image 30x40 is smaller than the crop 32x32"):
        transforms.check_size((30, 40), Preprocess("crop", 48, 32), "x.png")
    transforms.check_size((30, 40), Preprocess("resize_and_crop", 48, 32), "x.png")   # resized


def test_testing_settings_have_no_jitter():
    p = Preprocess("resize_and_crop", 286, 256).for_testing()
    assert (p.load_size, p.crop_size, p.no_flip) == (256, 256, True)
    assert get_params(p, (600, 400), np.random.default_rng(3)) == Params(0, 0, False)
