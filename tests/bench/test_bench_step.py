"""CI-sized smoke tests of `p2p bench`: tiny images, one iteration; the PyTorch side only
when torch is installed."""
import json
import sys

import pytest
from click.testing import CliRunner

from p2p_cupy.bench import results, timing
from p2p_cupy.bench.step import bench_step, num_downs_for
from p2p_cupy.cli.bench import bench
from p2p_cupy.errors import P2PError

try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False


def test_summary_reports_median_and_spread():
    s = timing.summary([0.003, 0.001, 0.002, 0.010])
    assert s["median_ms"] == pytest.approx(2.5)
    assert (s["min_ms"], s["max_ms"]) == pytest.approx((1.0, 10.0))
    assert s["q1_ms"] <= s["median_ms"] <= s["q3_ms"]


def test_size_must_be_a_power_of_two():
    assert num_downs_for(32) == 5
    with pytest.raises(ValueError, match="power of 2"):
        num_downs_for(48)


def test_step_record_has_throughput_and_flops():
    r = bench_step("cpu", batch_size=1, size=32, iters=1, warmup=0)
    assert r["ours"]["median_ms"] > 0 and len(r["ours"]["samples_ms"]) == 1
    assert r["iteration_flops"] > 0
    expected = r["iteration_flops"] / (r["ours"]["median_ms"] / 1e3) / 1e9
    assert r["ours"]["gflops"] == pytest.approx(expected)
    assert "torch" not in r and "ratio" not in r


def test_cli_step_saves_json_and_report_renders_it(tmp_path):
    out = tmp_path / "cpu-run.json"
    args = ["step", "--size", "32", "--iters", "1", "--warmup", "0", "--json", str(out)]
    if HAVE_TORCH:
        args += ["--compare", "torch"]
    res = CliRunner().invoke(bench, args)
    assert res.exit_code == 0, res.output
    record = json.loads(out.read_text())
    assert record["kind"] == "step" and record["config"]["size"] == 32
    assert record["machine"]["cores"] >= 1
    if HAVE_TORCH:
        assert record["ratio"] > 0 and record["machine"]["torch_threads"] >= 1
    assert record["config"]["malloc"] in ("default", "keep-freed")
    markdown = results.render([record])
    assert "| numpy | 1 | 32 |" in markdown


def test_runs_with_and_without_kept_freed_memory_are_summarised_apart(tmp_path):
    record = {"kind": "step", "device": "numpy", "ratio": 0.9,
              "config": {"batch_size": 1, "size": 256, "malloc": "default"}}
    kept = dict(record, ratio=1.1, config=dict(record["config"], malloc="keep-freed"))
    summary = "\n".join(results.ratio_summary([record, kept]))
    assert "| numpy | 1 | 256 | default | 1 | 0.90 |" in summary
    assert "| numpy | 1 | 256 | keep-freed | 1 | 1.10 |" in summary


@pytest.mark.skipif(not HAVE_TORCH, reason="needs torch")
def test_cli_layers_and_infer_with_torch(tmp_path):
    for command in (["layers", "--repeats", "1"], ["infer", "--batch-sizes", "1",
                                                   "--iters", "1"]):
        out = tmp_path / f"{command[0]}.json"
        res = CliRunner().invoke(bench, [*command, "--size", "32", "--compare", "torch",
                                         "--json", str(out)])
        assert res.exit_code == 0, res.output
        rows = json.loads(out.read_text())["rows"]
        assert rows and all("torch" in row for row in rows)


def test_compare_torch_without_torch_is_our_error(monkeypatch):
    from p2p_cupy.bench import torch_ref
    monkeypatch.setitem(sys.modules, "torch", None)        # `import torch` now fails
    with pytest.raises(P2PError, match="--compare torch needs PyTorch"):
        torch_ref.load_reference()


def test_readme_summary_table_is_regenerated_between_its_markers(tmp_path):
    record = {"kind": "step", "device": "numpy", "ratio": 0.5,
              "config": {"batch_size": 1, "size": 256}}
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{results.README_BEGIN}\nstale\n{results.README_END}\nrest\n")
    assert results.update_readme([record, dict(record, ratio=0.7)], readme)
    text = readme.read_text()
    assert "stale" not in text and text.startswith("intro\n") and text.endswith("rest\n")
    assert "| numpy | 1 | 256 | default | 2 | 0.50, 0.70 |" in text
    plain = tmp_path / "notes.md"
    plain.write_text("no markers\n")
    assert not results.update_readme([record], plain) and plain.read_text() == "no markers\n"
