"""Translating any size: --fit pad / resize / none, tiles cross-faded without seams, the
memory-budget choice of tiles."""
import numpy as np
import pytest

from p2p_cupy.errors import P2PError
from p2p_cupy.models import define_G
from p2p_cupy.evaluation.any_size import (Translator, blend_window, bytes_per_pixel, fit,
                                     tile_starts)


class Pointwise:
    """A stand-in generator whose output at a pixel depends on that pixel only (and which
    accepts multiples of 8, like a 3-level U-Net): tiles and crops must not change it."""
    input_nc = output_nc = 3
    size_multiple = 8

    def forward(self, x):
        assert x.shape[2] % 8 == 0 and x.shape[3] % 8 == 0, x.shape
        return x * 0.5 - 0.1


def _image(h, w, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (3, h, w)).astype(np.float32)


@pytest.mark.parametrize("mode", ["pad", "none"])
def test_pad_and_none_give_each_pixel_its_own_translation(bk, mode):
    x = _image(37, 50)
    out = Translator(Pointwise(), mode, tile=0)(x)
    assert out.shape == x.shape
    np.testing.assert_allclose(out, x * 0.5 - 0.1, atol=1e-6)


def test_resize_comes_back_at_the_input_size(bk):
    x = _image(37, 50)
    out = Translator(Pointwise(), "resize", tile=0)(x)
    assert out.shape == x.shape and np.abs(out - (x * 0.5 - 0.1)).mean() < 0.2


def test_tiles_are_cross_faded_exactly(bk):
    x = _image(70, 93)
    done = []
    out = Translator(Pointwise(), "pad", tile=24, overlap=8)(
        x, progress=lambda i, n: done.append((i, n)))
    np.testing.assert_allclose(out, x * 0.5 - 0.1, atol=1e-6)
    assert done[-1][0] == done[-1][1] == len(tile_starts(70, 24, 16)) * len(
        tile_starts(93, 24, 16))


def test_tile_geometry():
    assert tile_starts(100, 32, 24) == [0, 24, 48, 68]
    assert tile_starts(20, 32, 24) == [0]
    w = blend_window(16, 4)
    assert w[0] == pytest.approx(0.125) and (w[4:12] == 1).all() and (w == w[::-1]).all()


def test_fit_none_and_bad_tiles_are_refused_with_the_reason(bk):
    with pytest.raises(P2PError, match="at least 8 pixels"):
        Translator(Pointwise(), "none", tile=0)(_image(5, 40))
    with pytest.raises(P2PError, match="multiple of the generator's stride 8"):
        Translator(Pointwise(), "pad", tile=20)
    with pytest.raises(P2PError, match="--fit"):
        fit(_image(9, 9), 8, "stretch")


def test_a_unet_in_eval_mode_tiled_matches_it_whole_away_from_the_seams(bk):
    G = define_G("unet_32", ngf=4, seed=0).eval()
    x = _image(64, 96, seed=1)
    whole = Translator(G, "pad", tile=0)(x)
    tiled = Translator(G, "pad", tile=64, overlap=32)(x)
    assert tiled.shape == whole.shape == (3, 64, 96)
    assert np.abs(tiled - whole).mean() < 0.1 * np.abs(whole).mean() + 1e-3


def test_big_images_are_tiled_within_the_memory_budget(bk):
    G = define_G("unet_32", ngf=4, seed=0).eval()
    per_pixel = bytes_per_pixel(G)
    if bk.xp is not np:
        assert per_pixel is None
        return
    assert per_pixel > 0
    small_budget = Translator(G, memory_budget=int(per_pixel * 64 * 64 * 2.5))
    tile = small_budget.tile_for(4096, 4096)
    assert tile % 32 == 0 and per_pixel * tile * tile <= small_budget.memory_budget / 2
    assert Translator(G).tile_for(256, 256) == 0           # surely fits: not even measured


@pytest.mark.parametrize("mode", ["pad", "resize", "none"])
def test_a_resnet_generator_takes_any_size_too(bk, mode):
    G = define_G("resnet_6blocks", ngf=2, n_blocks=1, seed=0).eval()
    assert G.size_multiple == 4
    out = Translator(G, mode, tile=0)(_image(37, 50))
    assert out.shape == (3, 37, 50) and np.isfinite(out).all()
