#!/usr/bin/env bash
# GPU check: for a person with an NVIDIA GPU and CuPy installed. Runs, on --device cuda,
#   1. the whole test suite (the cuda-parameterized tests run instead of skipping),
#   2. the gradient checks through the kernels (p2p gradcheck --all --device cuda),
#   3. a short training run (p2p train, tiny U-Net, a few steps),
#   4. a training-step timing (p2p bench step) and each kernel's GB/s (p2p bench kernels),
# and writes a JSON summary (device, versions, pass/fail counts, timings) to the path given.
#
#   bash benchmarks/gpu_check.sh benchmarks/results/gpu_check-$(date +%Y%m%d).json
#
# Every stage runs even if an earlier one fails; the exit status is 1 if any failed.
#
# Install first: pip install -e ".[cuda13]" (or [cuda12]). On an offline GPU machine whose
# pip cannot fetch build dependencies (the editable install needs setuptools from the
# index), run from the checkout without installing: link the two mapped packages into
# place and put the checkout on the path (what the committed results were run with):
#   ln -s ../kernels p2p_cupy/kernels; ln -s ../cli p2p_cupy/cli; export PYTHONPATH=$PWD
#   and a `p2p` on PATH that runs `python3 -m p2p_cupy "$@"`.
# PYTEST_ADDOPTS="-n 8" runs the suite with pytest-xdist where it is installed.
set -u
OUT_JSON="${1:?usage: gpu_check.sh OUT.json}"
WORK="${GPU_CHECK_WORK:-$(mktemp -d)}"   # GPU_CHECK_WORK keeps the logs where you want them
mkdir -p "$WORK"
cd "$(dirname "$0")/.."

python -c "from p2p_cupy import backend; backend.get_backend('cuda')" \
    || { echo "gpu_check: the cuda backend is unavailable (see the message above)"; exit 2; }

echo "== 1/4 test suite"
python -m pytest -q -rs --junitxml="$WORK/junit.xml" tests > "$WORK/pytest.log" 2>&1
PYTEST_RC=$?
tail -5 "$WORK/pytest.log"

echo "== 2/4 gradient checks on cuda"
p2p gradcheck --all --device cuda > "$WORK/gradcheck.log" 2>&1
GRADCHECK_RC=$?
tail -3 "$WORK/gradcheck.log"

echo "== 3/4 short training run on cuda"
TRAIN_RC=-1
if p2p train --help > /dev/null 2>&1; then
    p2p train --device cuda --max-steps 20 --netG unet_64 --load-size 64 --crop-size 64 \
        --out "$WORK/runs" --name gpu_check > "$WORK/train.log" 2>&1
    TRAIN_RC=$?
    tail -3 "$WORK/train.log"
fi

echo "== 4/4 training-step time on cuda"
BENCH_RC=-1
if p2p bench step --help > /dev/null 2>&1; then
    p2p bench step --device cuda --iters 10 --warmup 3 --json "$WORK/step.json" > "$WORK/bench.log" 2>&1
    BENCH_RC=$?
    tail -3 "$WORK/bench.log"
fi
KERNELS_RC=-1
if p2p bench kernels --help > /dev/null 2>&1; then
    p2p bench kernels --device cuda --json "$WORK/kernels.json" > "$WORK/kernels.log" 2>&1
    KERNELS_RC=$?
    cat "$WORK/kernels.log"
fi

WORK="$WORK" OUT_JSON="$OUT_JSON" PYTEST_RC=$PYTEST_RC GRADCHECK_RC=$GRADCHECK_RC \
TRAIN_RC=$TRAIN_RC BENCH_RC=$BENCH_RC KERNELS_RC=$KERNELS_RC python - <<'PY'
import json, os, platform, xml.etree.ElementTree as ET
from pathlib import Path

import cupy
import numpy

work = Path(os.environ["WORK"])
counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
failed_tests = []
junit = work / "junit.xml"
if junit.exists():
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None:
            counts["failed"] += 1
            failed_tests.append(name)
        elif case.find("error") is not None:
            counts["errors"] += 1
            failed_tests.append(name)
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
props = cupy.cuda.runtime.getDeviceProperties(0)
step = work / "step.json"
rc = {k: int(os.environ[k.upper() + "_RC"])
      for k in ("pytest", "gradcheck", "train", "bench", "kernels")}
summary = {
    "device": props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
    "compute_capability": f"{props['major']}.{props['minor']}",
    "versions": {"python": platform.python_version(), "numpy": numpy.__version__,
                 "cupy": cupy.__version__,
                 "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
                 "cuda_driver": cupy.cuda.runtime.driverGetVersion()},
    "tests": counts, "failed_tests": failed_tests[:50],
    "exit_codes": rc,   # -1: stage not available in this version
    "gradcheck_tail": (work / "gradcheck.log").read_text().splitlines()[-3:],
    "step": json.loads(step.read_text()) if step.exists() else None,
    "kernels": (json.loads((work / "kernels.json").read_text())
                if (work / "kernels.json").exists() else None),
    "ok": all(v in (0, -1) for v in rc.values()),
}
Path(os.environ["OUT_JSON"]).parent.mkdir(parents=True, exist_ok=True)
Path(os.environ["OUT_JSON"]).write_text(json.dumps(summary, indent=2) + "\n")
print(f"wrote {os.environ['OUT_JSON']}: tests {counts}, exit codes {rc}")
raise SystemExit(0 if summary["ok"] else 1)
PY
