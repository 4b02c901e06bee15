"""--lr-policy step, cosine and plateau (linear: tests/test_optim.py), and --init-type."""
import math

import numpy as np
import pytest

from p2p_cupy.models import define_D, define_G
from p2p_cupy.models.init import draw_weight, init_weights
from p2p_cupy.schedules import (CosineSchedule, LinearDecaySchedule, PlateauSchedule,
                                StepSchedule, make_schedule)
from p2p_cupy.train.options import TrainOptions


def test_step_divides_by_ten_every_lr_decay_iters_epochs():
    s = StepSchedule(3)
    assert [s.factor(e) for e in range(1, 8)] == pytest.approx(
        [1, 1, 1, 0.1, 0.1, 0.1, 0.01])


def test_cosine_anneals_from_one_to_zero_over_the_whole_run():
    s = CosineSchedule(4)
    assert [s.factor(e) for e in range(1, 6)] == pytest.approx(
        [1, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2, 0])


def test_plateau_cuts_after_more_than_patience_epochs_without_a_1_percent_gain():
    s = PlateauSchedule()
    factors = []
    for metric in [1.0, 0.9, 0.895, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5]:
        s.epoch_finished(metric)
        factors.append(s.factor(0))
    # 0.895 is within 1% of 0.9: six bad epochs from there on, and the sixth cuts
    assert factors == pytest.approx([1, 1, 1, 1, 1, 1, 1, 0.2, 0.2])
    restored = PlateauSchedule().load_state_dict(s.state_dict())
    assert (restored.best, restored.bad_epochs, restored.current) == (0.5, 0, s.current)


@pytest.mark.parametrize("policy,kind", [("linear", LinearDecaySchedule),
                                         ("step", StepSchedule), ("cosine", CosineSchedule),
                                         ("plateau", PlateauSchedule)])
def test_make_schedule_by_policy(policy, kind):
    assert isinstance(make_schedule(TrainOptions(lr_policy=policy)), kind)
    # refused where every option is checked (TrainOptions.validate), before any schedule
    with pytest.raises(ValueError, match="lr.policy .exponential."):
        make_schedule(TrainOptions(lr_policy="exponential"))


@pytest.mark.parametrize("init_type,std", [("normal", 0.05), ("xavier", 0.05 * math.sqrt(
    2 / (64 * 9 + 32 * 9))), ("kaiming", math.sqrt(2 / (64 * 9)))])
def test_init_types_draw_the_reference_spreads(init_type, std):
    w = draw_weight((32, 64, 3, 3), init_type, 0.05, np.random.default_rng(0))
    assert w.dtype == np.float32 and abs(w.mean()) < 0.05 * std
    assert w.std() == pytest.approx(std, rel=0.03)


@pytest.mark.parametrize("shape", [(8, 2, 3, 3), (40, 2, 3, 3)])
def test_orthogonal_init_has_orthonormal_rows_or_columns_times_gain(shape):
    w = draw_weight(shape, "orthogonal", 0.5, np.random.default_rng(1)).reshape(shape[0], -1)
    gram = w @ w.T if shape[0] <= w.shape[1] else w.T @ w
    np.testing.assert_allclose(gram, 0.25 * np.eye(len(gram)), atol=1e-6)


def test_init_weights_redraws_every_conv_and_batch_norm_and_zeroes_biases(bk):
    G = define_G("unet_32", ngf=4, norm="instance", seed=0)
    before = {k: bk.to_numpy(v).copy() for k, v in G.state_dict().items()}
    init_weights(G, "kaiming", 0.02, seed=3)
    for name, p in G.named_parameters():
        value = bk.to_numpy(p.data)
        if name.endswith("bias"):
            assert not value.any(), name
        else:
            assert not np.array_equal(value, before[name]), name
    D = init_weights(define_D("basic", ndf=4, seed=1), "normal", 0.1, seed=2)
    gammas = np.concatenate([bk.to_numpy(p.data) for n, p in D.named_parameters()
                             if n.endswith("weight") and p.data.ndim == 1])
    assert abs(gammas.mean() - 1) < 0.1 and gammas.std() > 0.05
    with pytest.raises(ValueError, match="init_type"):
        init_weights(D, "uniform")
