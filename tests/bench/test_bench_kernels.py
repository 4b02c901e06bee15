"""`p2p bench kernels` on emu: a smoke test that every kernel launches and gets a row."""
import json

import pytest
from click.testing import CliRunner

from p2p_cupy.cli.main import main as cli
from p2p_cupy import backend


def test_bench_kernels_lists_every_kernel_with_its_floor(tmp_path):
    try:
        backend.get_backend("emu")
    except backend.BackendUnavailable as e:
        pytest.skip(str(e))
    out = tmp_path / "k.json"
    result = CliRunner().invoke(cli, ["bench", "kernels", "--device", "emu", "--size", "4",
                                      "--repeats", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["rows"]
    names = {r["kernel"] for r in rows}
    for expected in ("leaky_relu_fwd", "batch_norm_train_fwd", "batch_norm_bwd", "im2col_fwd",
                     "im2col_bwd", "bias_bwd", "concat_fwd", "dropout_fwd", "mse_fwd", "adam_fwd"):
        assert expected in names and expected in result.output
    assert all(r["ms"] > 0 and r["floor_ms"] > 0 and r["gb_per_s"] > 0 for r in rows)


def test_bench_kernels_refuses_numpy():
    result = CliRunner().invoke(cli, ["bench", "kernels", "--device", "numpy"])
    assert result.exit_code != 0 and "cuda or emu" in result.output
