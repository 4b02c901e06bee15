"""Counting every device launch of a training iteration (inspection/launch_count.py)."""
import json

import numpy as np
from click.testing import CliRunner

from p2p_cupy.cli.main import main
from p2p_cupy.inspection import kernels as kinfo
from p2p_cupy.inspection.launch_count import counted_zeros, counting

# Per batch-1 iteration of unet_256 + basic D (issue 16: 526 before it). Issue 17's
# kernels added 42 (two-kernel batch norm, the losses' second kernel, D's direct last conv);
# a single-slice batch norm in one kernel and the gradient kernels' accumulate flags took
# 41 back (benchmarks/NOTES.md).
LAUNCH_BUDGET = 300


def test_each_kind_of_device_work_is_counted_once():
    kernels = kinfo._RecordingKernels()
    with counting(kernels) as counter:
        from p2p_cupy import backend
        bk = backend.current()
        a, b = counted_zeros((4, 6)), counted_zeros((6, 5))
        grad = bk.xp.zeros((4, 5), np.float32)          # allocation + fill
        bk.gemm(a, b, out=grad, accumulate=True)        # one GEMM, no separate add
        grad += 1.0                                     # elementwise
        grad.fill(0)                                    # fill
        bk.xp.ascontiguousarray(a.T)                    # a copy (strided source)
        bk.xp.ascontiguousarray(a)                      # no copy: already contiguous
        grad.reshape(20)                                # a view: nothing
        a.T.reshape(24)                                 # a transposing copy
        bk.kernel("activations", "relu_fwd", np.float32)((1,), (32,), ())
    assert counter.breakdown()["by_name"] == {
        "fill/zeros": 1, "gemm/accumulate": 1, "elementwise/add": 1, "fill/fill": 1,
        "copy/ascontiguousarray": 1, "copy/reshape": 1, "ours/activations/relu_fwd_f32": 1}
    assert counter.total == 7 and counter.allocations == 3


def test_a_batch_1_iteration_stays_within_the_launch_budget():
    """unet_256 + 70x70 PatchGAN at 256x256, batch 1: the launches do not depend on the
    layer widths, so narrow networks give the count of the full-size ones, fast."""
    counter, ours = kinfo.training_launch_count((1, 3, 256, 256), "unet_256", "basic", 4, 4)
    b = counter.breakdown()
    assert b["launches_per_iteration"] <= LAUNCH_BUDGET, b
    assert b["ours"] == sum(ours.values())
    assert b["launches_per_iteration"] == sum(b["by_name"].values())
    # one Adam update and one gradient fill per optimizer, no concat, no parameter
    # gradient `+=` (D's second pass adds with the kernels' accumulate flags): the adds
    # left are the skips' gradients, the L1 term and the dropout counters
    names = b["by_name"]
    assert names["ours/adam/adam_fwd_f32"] == 2 and names["fill/fill"] == 2
    assert not any("concat" in k or k.startswith("copy/") for k in names)
    assert names["elementwise/add"] <= 11
    wider, _ = kinfo.training_launch_count((1, 3, 256, 256), "unet_256", "basic", 8, 8)
    assert wider.breakdown()["by_name"] == names


def test_cli_reports_launches_per_iteration_with_the_breakdown(tmp_path):
    result = CliRunner().invoke(main, ["inspect", "kernels", "--kernels-dir", str(tmp_path),
                                       "--shape", "1x3x32x32", "--netG", "unet_32", "--ngf", "2",
                                       "--ndf", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    parts = ("ours", "gemm", "elementwise", "fill", "copy")
    assert report["launches_per_iteration"] == sum(report[k] for k in parts) > 0
    assert report["ours"] == sum(e["count"] for e in report["launches"])
    assert report["gemm"] > 0 and report["allocations"] > 0
