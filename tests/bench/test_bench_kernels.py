"""`p2p bench kernels` on emu: a smoke test that every case launches, with its bytes from
the launch arguments; refused on devices without kernels."""
import json

import pytest
from click.testing import CliRunner

from p2p_cupy.cli.main import main as cli
from p2p_cupy import backend


def test_bench_kernels_times_every_case_with_its_bytes(tmp_path):
    try:
        backend.get_backend("emu")
    except backend.BackendUnavailable as e:
        pytest.skip(str(e))
    out = tmp_path / "k.json"
    # batch 2: at batch 1 concat's backward is free (views) and a batch norm whose channels
    # have a single slice runs one kernel, not the two that the cases name
    result = CliRunner().invoke(cli, ["bench", "kernels", "--device", "emu", "--batch-size", "2",
                                      "--size", "8", "--repeats", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    rows = {r["kernel"]: r for r in record["rows"]}
    for expected in ("leaky_relu_fwd", "batch_norm train fwd (2 kernels)", "im2col_fwd_k4s2",
                     "im2col_bwd_k4s2 (col2im)", "bias_bwd", "concat_fwd (2 halves)",
                     "dropout_fwd", "l1_fwd", "conv_one_out fwd", "adam (fused)"):
        assert expected in rows and expected in result.output
    assert all(r["ms"] > 0 and r["bytes"] > 0 and r["gb_per_s"] > 0 for r in rows.values())
    activation = 2 * 64 * 8 * 8 * 4               # bytes of one 2x64x8x8 float32 tensor
    assert rows["leaky_relu_fwd"]["bytes"] == 2 * activation          # read x, write y
    assert rows["batch_norm train fwd (2 kernels)"]["launches"] == 2
    assert rows["conv k4s2 forward (im2col + GEMM)"]["gemms"] == 1
    assert record["timer"].startswith("host clock") and rows["relu_fwd"]["of_peak"] is None


def test_bench_kernels_refuses_numpy():
    result = CliRunner().invoke(cli, ["bench", "kernels", "--device", "numpy"])
    assert result.exit_code != 0 and "cuda" in result.output
