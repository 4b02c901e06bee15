"""`p2p bench` from a non-editable install, run from a folder that is not the checkout: it
needs nothing of the source tree (its PyTorch reference ships in the package) and writes
its records under the current folder."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = ("setup.py", "README.md", "p2p_cupy", "kernels", "cli")   # what setup.py reads


def run(args, cwd, env=None, timeout=300):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """site folder of `pip install --target` from a copy of the sources (the checkout itself
    stays untouched: no build/ or egg-info written into it)."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in INSTALLED:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, src / name, **({"ignore": shutil.ignore_patterns(
            "__pycache__", "*.egg-info")} if (ROOT / name).is_dir() else {}))
    target = tmp / "site"
    done = run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                str(target), str(src)], cwd=tmp)
    if done.returncode != 0 and "setuptools" in done.stdout + done.stderr:
        pytest.skip("pip could not get setuptools to build the package here: "
                    + (done.stderr or done.stdout).strip().splitlines()[-1])
    assert done.returncode == 0, done.stdout + done.stderr
    return target


def test_bench_runs_from_a_non_editable_install_in_another_folder(installed, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(installed)}
    where = run([sys.executable, "-c", "import p2p_cupy; print(p2p_cupy.__file__)"],
                tmp_path, env)
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout + where.stderr

    cli = [sys.executable, "-m", "p2p_cupy.cli.main", "bench"]
    helped = run([*cli, "--help"], tmp_path, env)
    assert helped.returncode == 0 and "step" in helped.stdout, helped.stderr
    compare = ["--compare", "torch"] if _have_torch() else []
    done = run([*cli, "step", "--device", "cpu", "--size", "32", "--iters", "1",
                "--warmup", "0", *compare], tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    records = list((tmp_path / "benchmarks" / "results").glob("*-step.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["config"]["size"] == 32 and ("ratio" in record) == bool(compare)

    report = run([*cli, "report"], tmp_path, env)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "Training iteration" in (tmp_path / "benchmarks" / "RESULTS.md").read_text()


def _have_torch() -> bool:
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False
