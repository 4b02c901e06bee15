"""`p2p bench kernels`: each of our CUDA kernels alone, at pix2pix's batch-16 shapes,
against the GPU's memory bandwidth.

Each case calls the op (ops/*), so it runs the launch configuration training runs. It is
timed on the GPU: CUDA events around `repeats` back-to-back calls after a warm-up call,
so the time per call is the device's, not the host's ~20 us per launch. The tensors are
at least 64 MB (batch 16, 64 channels of 128x128 in float32 is 67 MB), beyond the L2
cache, so every call reads HBM. (D's one-output conv runs at its own size: its input at
batch 16 is 31 MB.)

Bytes per call are those of the launch arguments, as the roofline model counts them
(p2p_cupy/inspection/work.py): each input read once, each output written once. Achieved
bandwidth is bytes / time, also as a fraction of the GPU's published peak (when the
model knows the GPU, p2p_cupy/bench/model.py) and of a measured device copy.
On emu the same cases run at a tiny size with host timers: a smoke test of every launch,
whose timings say nothing about a GPU.
"""
from __future__ import annotations

import time

import numpy as np

from p2p_cupy import backend
from p2p_cupy.bench.model import GPUS
from p2p_cupy.inspection.work import noting_work
from p2p_cupy.nn.module import Parameter
from p2p_cupy.ops import activations, batch_norm, concat, conv, conv_kernels, dropout, losses
from p2p_cupy.optim import Adam


def device_seconds(bk, fn, repeats: int) -> float:
    """Seconds per call of fn: CUDA events around `repeats` calls on cuda (after one
    warm-up call), the host clock elsewhere."""
    fn()
    if bk.name == "cuda":
        start, end = bk.xp.cuda.Event(), bk.xp.cuda.Event()
        start.record()
        for _ in range(repeats):
            fn()
        end.record()
        end.synchronize()
        return bk.xp.cuda.get_elapsed_time(start, end) / 1e3 / repeats
    begin = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - begin) / repeats


def copy_bandwidth(bk, n_bytes: int, repeats: int) -> float:
    """Bytes per second of a device copy of n_bytes (read + write counted)."""
    a = bk.xp.ones(n_bytes // 4, np.float32)
    b = bk.xp.empty_like(a)
    return 2 * a.nbytes / device_seconds(bk, lambda: bk.xp.copyto(b, a), repeats)


def _cases(bk, n, size, dtype):
    """(name, shape text, callable) per case; n images of 64 channels at size x size."""
    rng = np.random.default_rng(0)
    rand = lambda *shape: bk.asarray(rng.standard_normal(shape).astype(dtype))  # noqa: E731
    c = 64
    x, dy = rand(n, c, size, size), rand(n, c, size, size)
    y = activations.leaky_relu_forward(x, 0.2)[0]
    ones, zeros = bk.asarray(np.ones(c, dtype)), bk.asarray(np.zeros(c, dtype))
    shape = f"{n}x{c}x{size}x{size}"
    _, bn_cache = batch_norm.batch_norm2d_forward(x, ones, zeros, zeros.copy(), ones.copy(), True)
    _, cat_cache = concat.concat_forward([x, x])
    cat = bk.xp.concatenate([x, x], axis=1)
    _, drop_cache = dropout.dropout_forward(x, 0.5, 0, 0)
    _, l1_cache = losses.l1_forward(x, dy)
    k4 = rand(2 * c, c, 4, 4)
    down = (size // 2, size // 2)                # pix2pix's down conv: k 4, stride 2, pad 1
    cols = conv_kernels._im2col(bk, x, 4, 2, 1, down)
    d4 = max(5, size // 4)    # D's last conv (one output channel) on 512 x 31 x 31 at size 128
    x_last, w_last = rand(n, 8 * c, d4 - 1, d4 - 1), rand(1, 8 * c, 4, 4)
    _, last_cache = conv.conv2d_forward(x_last, w_last, rand(1), 1, 1)
    dy_last = rand(n, 1, d4 - 2, d4 - 2)
    param = Parameter(rand(n * c * size * size))
    param.grad = rand(param.data.size)
    adam = Adam([param])
    cases = [
        ("leaky_relu_fwd", shape, lambda: activations.leaky_relu_forward(x, 0.2)),
        ("leaky_relu_bwd", shape, lambda: activations.leaky_relu_backward(dy, (y, 0.2))),
        ("relu_fwd", shape, lambda: activations.relu_forward(x)),
        ("tanh_fwd", shape, lambda: activations.tanh_forward(x)),
        ("batch_norm train fwd (2 kernels)", shape, lambda: batch_norm.batch_norm2d_forward(
            x, ones, zeros, zeros.copy(), ones.copy(), True)),
        ("batch_norm bwd (2 kernels)", shape, lambda: batch_norm.batch_norm2d_backward(dy, bn_cache)),
        ("bias_bwd", shape, lambda: conv_kernels._bias_grad(backend.current(), dy, None)),
        ("concat_fwd (2 halves)", f"2 x {shape}", lambda: concat.concat_forward([x, x])),
        ("concat_bwd (2 halves)", f"2 x {shape}", lambda: concat.concat_backward(cat, cat_cache)),
        ("dropout_fwd", shape, lambda: dropout.dropout_forward(x, 0.5, 0, 0)),
        ("dropout_bwd", shape, lambda: dropout.dropout_backward(dy, drop_cache)),
        ("l1_fwd", shape, lambda: losses.l1_forward(x, dy)),
        ("l1_bwd", shape, lambda: losses.l1_backward(l1_cache)),
        ("im2col_fwd_k4s2", f"{shape} k4s2p1",
         lambda: conv_kernels._im2col(backend.current(), x, 4, 2, 1, down)),
        ("im2col_bwd_k4s2 (col2im)", f"{shape} k4s2p1",
         lambda: conv_kernels._col2im(backend.current(), cols, x.shape, 4, 2, 1, down)),
        ("conv k4s2 forward (im2col + GEMM)", f"{shape} -> {2 * c} ch",
         lambda: conv.conv2d_forward(x, k4, None, 2, 1)),
        ("conv_one_out fwd", f"{n}x{8 * c}x{d4 - 1}x{d4 - 1}",
         lambda: conv.conv2d_forward(x_last, w_last, None, 1, 1)),
        ("conv_one_out dx + dw (3 kernels)", f"{n}x{8 * c}x{d4 - 1}x{d4 - 1}",
         lambda: conv.conv2d_backward(dy_last, last_cache)),
        ("adam (fused)", f"{param.data.size} params", adam.step),
    ]
    return cases


def bench_kernels(device: str, batch_size: int, size: int, repeats: int, dtype=np.float32) -> dict:
    """Time every case; returns the result record (rows with ms, GB/s and fractions)."""
    bk = backend.get_backend(device)
    if not bk.uses_kernels:
        raise ValueError(f"bench kernels: device {device!r} runs no CUDA kernels; use "
                         "--device cuda (or emu for a smoke test)")
    gpu = _known_gpu(bk)
    with backend.using(bk):
        bandwidth = copy_bandwidth(bk, 1 << (28 if bk.name == "cuda" else 20), repeats)
        rows = []
        for name, shape, call in _cases(bk, batch_size, size, dtype):
            with noting_work(bk) as (noted, log):
                with backend.using(noted):
                    call()
            n_bytes = sum(w.bytes for w in log)
            flops = sum(w.flops for w in log)
            seconds = device_seconds(bk, call, repeats)
            rows.append({
                "kernel": name, "shape": shape, "launches": sum(w.kind == "kernel" for w in log),
                "gemms": sum(w.kind == "gemm" for w in log), "ms": seconds * 1e3,
                "bytes": n_bytes, "gb_per_s": n_bytes / seconds / 1e9,
                "of_copy": n_bytes / seconds / bandwidth,
                "of_peak": n_bytes / seconds / gpu.bandwidth if gpu else None,
                "gflop_per_s": flops / seconds / 1e9 if flops else None})
    return {"kind": "kernels", "device": bk.name, "batch_size": batch_size, "size": size,
            "dtype": np.dtype(dtype).name, "repeats": repeats, "timer": (
                "cuda events" if bk.name == "cuda" else "host clock (emu: not a GPU figure)"),
            "gpu": gpu.name if gpu else None, "peak_gb_per_s": gpu.bandwidth / 1e9 if gpu else None,
            "copy_gb_per_s": bandwidth / 1e9, "rows": rows}


def _known_gpu(bk):
    """The model's GPU entry for the device in use, or None (emu, or an unknown GPU)."""
    if bk.name != "cuda":
        return None
    name = bk.xp.cuda.runtime.getDeviceProperties(bk.xp.cuda.Device().id)["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    return next((g for g in GPUS.values() if g.match in name), None)
