"""`p2p bench model`: the roofline arithmetic, the record lookup and the command."""
import pytest
from click.testing import CliRunner

from p2p_cupy.bench import model
from p2p_cupy.cli.main import main as cli
from p2p_cupy.inspection.work import Work

H100 = model.GPUS["h100"]


def test_each_item_takes_the_larger_of_its_memory_and_compute_time():
    copy = Work("kernel", "k", "f", int(H100.bandwidth / 2e3), int(H100.bandwidth / 2e3))
    gemm = Work("gemm", "gemm", "cublas", 1000, 1000, int(H100.fp32_flops / 1e3))
    tiny = Work("kernel", "k", "f", 4, 4)
    assert model.item_seconds(copy, H100) == pytest.approx(1e-3)          # bytes / bandwidth
    assert model.item_seconds(gemm, H100) == pytest.approx(1e-3)          # FLOPs / FP32 peak
    assert model.item_seconds(gemm, H100, tf32=True) == pytest.approx(
        H100.fp32_flops / H100.tf32_flops * 1e-3)
    assert model.item_seconds(tiny, H100) == model.MIN_KERNEL_S
    m = model.predict([copy, gemm, tiny, tiny], H100)
    assert m["floor_ms"] == pytest.approx(2.0 + 2 * model.MIN_KERNEL_S * 1e3)
    assert [r["group"] for r in m["rows"]] == ["f/k", "gemm"]   # grouped, slowest first
    assert m["rows"][0]["launches"] == 3 and m["launches"] == 4


def test_the_last_measured_step_is_the_newest_matching_record():
    def record(gpu, batch, ms, date, kind="step", device="cuda"):
        return {"kind": kind, "device": device, "date": date, "ours": {"median_ms": ms},
                "config": {"batch_size": batch, "size": 256}, "machine": {"gpu": gpu}}
    records = [record("NVIDIA H100 80GB HBM3", 1, 30.0, "1"),
               record("NVIDIA H100 80GB HBM3", 1, 29.1, "2"),
               record("NVIDIA H100 80GB HBM3", 16, 72.4, "3"),
               record("NVIDIA A100-SXM4-80GB", 1, 40.0, "4"),
               record("NVIDIA H100 80GB HBM3", 1, 1.0, "5", device="numpy")]
    assert model.last_measured_step(H100, 1, 256, records) == (29.1, "2")
    assert model.last_measured_step(H100, 16, 256, records) == (72.4, "3")
    assert model.last_measured_step(model.GPUS["h200"], 1, 256, records) is None


def test_bench_model_prints_the_floor_beside_the_last_measurement():
    result = CliRunner().invoke(cli, ["bench", "model", "--gpu", "a100", "--size", "32",
                                      "--top", "3"])
    assert result.exit_code == 0, result.output
    assert "A100" in result.output and "gemm" in result.output
    assert "predicted floor" in result.output and "last measured step: none recorded" in result.output
