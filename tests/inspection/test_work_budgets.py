"""The work of one training iteration, recorded on the CPU (inspection/work.py): bytes per
launch from the arguments, FLOPs that add up to the cost model's, and the byte budgets
of the kernel families, asserted against the numbers the division-free conv kernels and
the one-output conv brought down. Recording runs no kernel and no GEMM: it is fast."""
from collections import defaultdict

import numpy as np
import pytest

from p2p_cupy.inspection.cost import model_cost
from p2p_cupy.inspection.work import Launch, kernel_work, record_work, training_iteration
from p2p_cupy.models import define_D, define_G

# unet_64 (ngf 16) against the basic PatchGAN (ndf 16), batch 2 of 64x64 images
SHAPE, NET, WIDTH = (2, 3, 64, 64), "unet_64", 16
# Budgets in bytes, this configuration; the figures before (im2col for every conv, D's
# one-output conv included) in the comments.
IM2COL_COLUMNS_WRITTEN = 14_049_280   # before: 16_998_400
COL2IM_COLUMNS_READ = 6_742_016       # before: 8_511_488
CONV_FAMILY_BYTES = 26_792_864        # before: 31_914_604 (im2col, col2im and bias)
ELEMENTWISE_BYTES = 8_437_760 + 4_767_744 + 98_312 + 495_736   # activations, concat, dropout, losses


@pytest.fixture(scope="module")
def work():
    return record_work(training_iteration(SHAPE, NET, ngf=WIDTH, ndf=WIDTH))


def _bytes(work, select, side="bytes"):
    return sum(getattr(w, side) for w in work if select(w))


def test_recorded_flops_are_the_cost_models(work):
    G, D = define_G(NET, ngf=WIDTH), define_D("basic", ndf=WIDTH)
    _, _, totals = model_cost(G, D, size=SHAPE[2], batch_size=SHAPE[0])
    assert sum(w.flops for w in work) == totals["iteration_flops"]
    # the GEMMs carry all of it but D's one-output conv, which runs as direct kernels
    direct = sum(w.flops for w in work if w.family == "conv_one_out")
    assert 0 < direct < 0.01 * totals["iteration_flops"]


def test_column_matrices_stay_within_their_budget(work):
    assert 0 < _bytes(work, lambda w: w.name.startswith("im2col_fwd"), "bytes_written") \
        <= IM2COL_COLUMNS_WRITTEN
    assert 0 < _bytes(work, lambda w: w.name.startswith("im2col_bwd"), "bytes_read") \
        <= COL2IM_COLUMNS_READ
    assert 0 < _bytes(work, lambda w: w.family == "conv") <= CONV_FAMILY_BYTES
    # pix2pix's 4x4 convs all take the unrolled kernels, D's last one no columns at all
    names = {w.name for w in work if w.family == "conv"}
    assert names >= {"im2col_fwd_k4s2", "im2col_bwd_k4s2", "im2col_fwd_k4s1"}
    assert not names & {"im2col_fwd", "im2col_bwd"}
    assert sum(w.name == "conv_one_out_fwd" for w in work) == 3     # D runs forward 3 times


def test_elementwise_passes_stay_within_their_budget(work):
    families = ("activations", "concat", "dropout", "losses")
    assert 0 < _bytes(work, lambda w: w.family in families) <= ELEMENTWISE_BYTES


def test_batch_norm_moves_each_activation_3_times_forward_and_5_backward(work):
    """Forward: the partial sums read x, the apply reads x and writes y; backward: x and dy
    twice, dx once. The per-channel vectors and per-slice partial sums come on top: 5% at
    this small size, where the U-Net's inner layers have 1 to 16 pixels per channel."""
    passes = defaultdict(int)
    x_bytes = defaultdict(int)
    for w in work:
        if w.family == "batch_norm":
            side = "backward" if "bwd" in w.name else "forward"
            passes[side] += w.bytes
            if w.name == "batch_norm_stats_partial":
                x_bytes["forward"] += w.bytes_read
            if w.name == "batch_norm_bwd_partial":
                x_bytes["backward"] += w.bytes_read / 2   # it reads x and dy
    assert x_bytes["forward"] > 0 and x_bytes["backward"] > 0
    assert 3 * x_bytes["forward"] <= passes["forward"] <= 3.2 * x_bytes["forward"]
    assert 5 * x_bytes["backward"] <= passes["backward"] <= 5.2 * x_bytes["backward"]


def test_launch_bytes_come_from_the_signature():
    x, y = np.zeros(10, np.float32), np.zeros(10, np.float32)
    launch = Launch("activations/relu_fwd_f32", (1,), (256,), 0)
    w = kernel_work("activations", "relu_fwd_f32", (x, y, np.int64(10)), launch)
    assert (w.name, w.bytes_read, w.bytes_written, w.flops) == ("relu_fwd", 40, 40, 0)
    b = np.zeros(3, np.float32)        # bias_fwd adds in place: y is read and written
    w = kernel_work("conv", "bias_fwd_f32", (y, b, np.int32(1), np.int32(3), np.int32(3)), launch)
    assert (w.bytes_read, w.bytes_written) == (40 + 12, 40)
