import numpy as np
import pytest

from p2p_cupy.evaluation import metrics


def _naive_ssim_at(x, y, i, j):
    """SSIM of one 11x11 window at (i, j) of single-channel images, written out directly."""
    w = np.outer(metrics.gaussian_window(), metrics.gaussian_window())
    px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
    mx, my = (w * px).sum(), (w * py).sum()
    vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
    cxy = (w * (px - mx) * (py - my)).sum()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))


def test_ssim_matches_the_windowed_formula_of_wang_et_al():
    rng = np.random.default_rng(0)
    x = rng.random((1, 11, 11))
    y = np.clip(x + 0.2 * rng.standard_normal(x.shape), 0, 1)
    assert metrics.ssim(x, y) == pytest.approx(_naive_ssim_at(x[0], y[0], 0, 0), rel=1e-12)


def test_ssim_is_one_for_identical_images_and_falls_with_noise():
    rng = np.random.default_rng(1)
    x = rng.random((3, 32, 32))
    assert metrics.ssim(x, x) == pytest.approx(1.0)
    little = np.clip(x + 0.05 * rng.standard_normal(x.shape), 0, 1)
    lots = np.clip(x + 0.3 * rng.standard_normal(x.shape), 0, 1)
    assert 1.0 > metrics.ssim(x, little) > metrics.ssim(x, lots)
    assert metrics.ssim(x, lots) == pytest.approx(metrics.ssim(lots, x))


def test_ssim_rejects_images_smaller_than_the_window():
    with pytest.raises(ValueError, match="ssim"):
        metrics.ssim(np.zeros((3, 8, 8)), np.zeros((3, 8, 8)))


def test_psnr_and_l1_of_a_constant_offset():
    x = np.zeros((3, 4, 4))
    assert metrics.l1(x, x + 0.1) == pytest.approx(0.1)
    assert metrics.psnr(x, x + 0.1) == pytest.approx(20.0)
    assert metrics.psnr(x, x) == float("inf")
