"""The FCN-score's three numbers and the sharpness measure, on hand-made examples."""
import numpy as np
import pytest

from p2p_cupy.quality.scores import confusion, fcn_scores, high_frequency_energy


def test_fcn_scores_of_a_hand_counted_confusion():
    true = np.array([[0, 0, 0, 1], [1, 1, 2, 2]])
    pred = np.array([[0, 0, 1, 1], [1, 0, 2, 2]])
    m = confusion(true, pred, 4)             # class 3 never occurs: not counted
    assert m.tolist() == [[2, 1, 0, 0], [1, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0]]
    s = fcn_scores(m)
    assert s["pixel_acc"] == pytest.approx(6 / 8)
    assert s["class_acc"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    # IoU: class 0: 2 / (3 + 3 - 2), class 1: 2 / (3 + 3 - 2), class 2: 2 / 2
    assert s["class_iou"] == pytest.approx((0.5 + 0.5 + 1) / 3)


def test_a_perfect_labelling_scores_one_and_a_constant_one_does_not():
    true = np.random.default_rng(0).integers(0, 5, (16, 16))
    assert fcn_scores(confusion(true, true, 5)) == {"pixel_acc": 1.0, "class_acc": 1.0,
                                                   "class_iou": 1.0}
    constant = fcn_scores(confusion(true, np.zeros_like(true), 5))
    assert constant["class_acc"] == pytest.approx(1 / 5)
    assert constant["class_iou"] < constant["pixel_acc"] < 0.3


def test_high_frequency_energy_falls_with_blur_and_is_zero_for_flat_or_linear_images():
    rng = np.random.default_rng(0)
    sharp = rng.uniform(-1, 1, (3, 32, 32))
    blurred = sharp.copy()
    for axis in (1, 2):                          # a 3-tap box blur along each axis
        blurred = (np.roll(blurred, 1, axis) + blurred + np.roll(blurred, -1, axis)) / 3
    assert high_frequency_energy(blurred) < 0.2 * high_frequency_energy(sharp)
    ramp = np.broadcast_to(np.linspace(-1, 1, 32), (3, 32, 32))
    assert high_frequency_energy(np.zeros((3, 8, 8))) == 0.0
    assert high_frequency_energy(ramp) == pytest.approx(0.0, abs=1e-20)
