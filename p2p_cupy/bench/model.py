"""`p2p bench model`: a roofline model of one training iteration on a GPU we may not have.

The work is recorded, not estimated: one iteration of the real networks runs on the
recording backend (p2p_cupy/inspection/work.py), which notes every kernel launch with the
bytes of its arguments, every GEMM with its FLOPs and every layout copy. Each item then
takes, on the chosen GPU,

    time = max(bytes / bandwidth, FLOPs / peak, MIN_KERNEL_S)

with the GPU's published HBM bandwidth and FP32 (or, with tf32, TF32 tensor-core) peak:
the least time that item can take when it is the only thing running. Their sum is the
predicted floor of the step: what the GPU would need if every kernel and GEMM ran at the
roofline, back to back. A change is predicted by its effect on the floor before a GPU
measures it; the distance from the floor to a measured step is what launches, host
overhead and kernels below the roofline cost.

Not in the model: CuPy's own elementwise work (zero fills, gradient `+=`, loss scaling),
which the recording backend does not see, and the host: at batch 1 the measured step is
mostly host time per launch (see benchmarks/NOTES.md).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from p2p_cupy.bench import results
from p2p_cupy.inspection.work import record_work, training_iteration

MIN_KERNEL_S = 2e-6   # a kernel, even a tiny one, occupies the GPU ~2 us (launch + drain)


@dataclass(frozen=True)
class GPU:
    name: str
    bandwidth: float        # bytes/s, HBM, published peak
    fp32_flops: float       # FLOP/s, FP32 on CUDA cores (no tensor cores)
    tf32_flops: float       # FLOP/s, TF32 tensor cores, dense
    match: str              # how the GPU's name reads in a benchmark record


GPUS = {
    "h100": GPU("H100 SXM5 80 GB", 3.35e12, 67e12, 495e12, "H100"),
    "h200": GPU("H200 SXM 141 GB", 4.8e12, 67e12, 495e12, "H200"),
    "a100": GPU("A100 SXM4 80 GB", 2.039e12, 19.5e12, 156e12, "A100"),
}


def item_seconds(work, gpu: GPU, tf32: bool = False) -> float:
    """The roofline time of one recorded item (see the module doc)."""
    peak = gpu.tf32_flops if (tf32 and work.kind == "gemm") else gpu.fp32_flops
    return max(work.bytes / gpu.bandwidth, work.flops / peak, MIN_KERNEL_S)


def predict(works, gpu: GPU, tf32: bool = False) -> dict:
    """Per-group rows (launches, GB, GFLOP, ms) and the total floor of a Work list.
    Groups: the GEMMs, the layout copies, and each kernel (family/name)."""
    rows = OrderedDict()
    for w in works:
        key = w.name if w.kind != "kernel" else f"{w.family}/{w.name}"
        row = rows.setdefault(key, {"group": key, "launches": 0, "bytes": 0, "flops": 0,
                                    "seconds": 0.0})
        row["launches"] += 1
        row["bytes"] += w.bytes
        row["flops"] += w.flops
        row["seconds"] += item_seconds(w, gpu, tf32)
    rows = sorted(rows.values(), key=lambda r: -r["seconds"])
    return {"gpu": gpu.name, "tf32": tf32, "rows": rows,
            "launches": sum(r["launches"] for r in rows),
            "bytes": sum(r["bytes"] for r in rows), "flops": sum(r["flops"] for r in rows),
            "floor_ms": 1e3 * sum(r["seconds"] for r in rows)}


def step_model(gpu: str, batch_size: int = 1, size: int = 256, tf32: bool = False) -> dict:
    """The prediction for one pix2pix training iteration (unet_<size> + basic PatchGAN,
    the `p2p bench step` setup) and the last measured step of that GPU kind, if any."""
    from p2p_cupy.bench.step import num_downs_for
    num_downs_for(size)   # the same sizes as bench step
    works = record_work(training_iteration((batch_size, 3, size, size), f"unet_{size}"))
    model = predict(works, GPUS[gpu], tf32)
    model.update(kind="model", device=gpu, batch_size=batch_size, size=size,
                 measured=last_measured_step(GPUS[gpu], batch_size, size))
    return model


def code_label() -> str:
    """The git commit of this checkout ('unknown' outside a git checkout)."""
    import subprocess
    from pathlib import Path
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parent)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def last_measured_step(gpu: GPU, batch_size: int, size: int, records=None):
    """(median ms, date) of the newest cuda `bench step` record on this GPU kind at this
    batch size and image size, or None."""
    found = None
    for r in records if records is not None else results.load_all():
        config, machine = r.get("config", {}), r.get("machine", {})
        if (r.get("kind") == "step" and r.get("device") == "cuda"
                and gpu.match in (machine.get("gpu") or "")
                and config.get("batch_size") == batch_size and config.get("size") == size):
            found = (r["ours"]["median_ms"], r.get("date", "?"))
    return found
