"""Image metrics of `p2p test`, on host float images in [0, 1] of shape (C, H, W).

    L1    mean |x - y|
    PSNR  10 log10(1 / MSE)                  (data range 1)
    SSIM  Wang, Bovik, Sheikh, Simoncelli (2004), "Image quality assessment: from error
          visibility to structural similarity": local means, variances and covariance
          under an 11x11 Gaussian window (sigma 1.5), C1 = (0.01 L)^2, C2 = (0.03 L)^2,

              SSIM = (2 mu_x mu_y + C1)(2 sigma_xy + C2)
                     / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2)),

          averaged over the positions where the window fits ("valid") and over channels.
"""
from __future__ import annotations

import numpy as np

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


def l1(x, y) -> float:
    return float(np.mean(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))


def psnr(x, y) -> float:
    mse = float(np.mean((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def gaussian_window(size=SSIM_WINDOW, sigma=SSIM_SIGMA) -> np.ndarray:
    """1-D normalised Gaussian taps; the 2-D window is its outer product (separable)."""
    r = np.arange(size) - (size - 1) / 2
    w = np.exp(-r ** 2 / (2 * sigma ** 2))
    return w / w.sum()


def _filter_valid(img, w):
    """Separable 'valid' filtering of (C, H, W) with taps w along H, then along W."""
    k = len(w)
    rows = sum(w[i] * img[:, i:img.shape[1] - k + 1 + i, :] for i in range(k))
    return sum(w[i] * rows[:, :, i:img.shape[2] - k + 1 + i] for i in range(k))


def ssim(x, y, data_range=1.0) -> float:
    """Mean SSIM of two (C, H, W) images (both sides at least the window size)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 3 or min(x.shape[1:]) < SSIM_WINDOW:
        raise ValueError(f"ssim: expected two (C, H, W) images of the same shape with H, W >= "
                         f"{SSIM_WINDOW}, got {x.shape} and {y.shape}")
    w = gaussian_window()
    mu_x, mu_y = _filter_valid(x, w), _filter_valid(y, w)
    var_x = _filter_valid(x * x, w) - mu_x ** 2
    var_y = _filter_valid(y * y, w) - mu_y ** 2
    cov = _filter_valid(x * y, w) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = (((2 * mu_x * mu_y + c1) * (2 * cov + c2))
         / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))
    return float(s.mean())
