"""`p2p bench kernels`: each of our CUDA kernels alone, on pix2pix-like shapes, against the
memory-bandwidth floor (or, for the GEMM it feeds, the FLOP count).

Every kernel here is memory-bound, so its figure of merit is the bytes it must move (each
input read once, each output written once) over its time, next to the floor: those bytes
at the machine's copy bandwidth, measured here with a large device-to-device copy. A kernel
near its floor cannot get much faster; one far above it is worth work. The GEMM of the same
conv layer is listed with GFLOP/s, to show what im2col/col2im cost next to it.
On emu the timings say nothing about a GPU: it is a smoke test of every launch.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend, philox
from p2p_cupy.bench.timing import best_of
from p2p_cupy.ops.launch import grid_1d, reduction_block


def copy_bandwidth(bk, n_bytes=1 << 28):
    """Bytes per second of a device copy of n_bytes (read + write counted)."""
    a = bk.xp.ones(n_bytes // 4, np.float32)
    b = bk.xp.empty_like(a)
    seconds = best_of(lambda: bk.xp.copyto(b, a), 3, bk.synchronize)
    return 2 * a.nbytes / seconds


def _cases(bk, size, dtype):
    """(kernel name, shape text, launch callable, bytes it must move, flops or 0)."""
    xp, it = bk.xp, np.dtype(dtype).itemsize
    rng = np.random.default_rng(0)
    n, c, h = 1, 64, size                         # a U-Net layer's activation at this size
    x = bk.asarray(rng.standard_normal((n, c, h, h)).astype(dtype))
    y, z = xp.empty_like(x), xp.empty_like(x)
    count, shape = x.size, f"{n}x{c}x{h}x{h}"
    k = lambda family, name: bk.kernel(family, name, dtype)   # noqa: E731
    grid, block = grid_1d(count)
    ln = np.int64(count)
    per_c = [bk.asarray(np.ones(c, dtype)) for _ in range(6)]
    per_channel_block = reduction_block(n * h * h)    # as the ops launch them
    cases = []
    for act in ("leaky_relu", "relu", "tanh", "sigmoid"):
        slope = (dtype(0.2),) if act == "leaky_relu" else ()
        cases.append((f"{act}_fwd", shape, lambda a=act, s=slope: k("activations", f"{a}_fwd")(
            grid, block, (x, y, ln) + s), 2 * count * it, 0))
        cases.append((f"{act}_bwd", shape, lambda a=act, s=slope: k("activations", f"{a}_bwd")(
            grid, block, (x, y, z, ln) + s), 3 * count * it, 0))
    geo = (np.int32(n), np.int32(c), np.int32(h * h))
    cases.append(("batch_norm_train_fwd", shape, lambda: k("batch_norm", "batch_norm_train_fwd")(
        (c,), per_channel_block, (x, per_c[0], per_c[1], y, per_c[2], per_c[3], per_c[4], per_c[5],
                         *geo, np.float64(0.1), np.float64(1e-5))), 2 * count * it, 0))
    cases.append(("batch_norm_bwd", shape, lambda: k("batch_norm", "batch_norm_bwd")(
        (c,), per_channel_block, (x, y, per_c[0], per_c[1], per_c[2], z, per_c[3], per_c[4], *geo,
                         np.int32(1))), 3 * count * it, 0))
    # pix2pix's down conv on this activation: k 4, stride 2, padding 1 -> (h/2)^2 pixels
    ho = h // 2
    cols = xp.empty((c * 16, n * ho * ho), dtype)
    conv_geo = tuple(np.int32(v) for v in (n, c, h, h, 4, 2, 1, ho, ho))
    cases.append(("im2col_fwd", f"{shape} k4s2p1", lambda: k("conv", "im2col_fwd")(
        *grid_1d(cols.size), (x, cols) + conv_geo), (count + cols.size) * it, 0))
    cases.append(("im2col_bwd", f"{shape} k4s2p1", lambda: k("conv", "im2col_bwd")(
        *grid_1d(count), (cols, y) + conv_geo), (count + cols.size) * it, 0))
    w = bk.asarray(rng.standard_normal((2 * c, c * 16)).astype(dtype))
    cases.append(("gemm (cuBLAS/numpy)", f"{2 * c}x{c * 16} @ {c * 16}x{ho * ho}",
                  lambda: xp.matmul(w, cols), (w.size + cols.size + 2 * c * ho * ho) * it,
                  2 * w.shape[0] * w.shape[1] * cols.shape[1]))
    cases.append(("bias_fwd", shape, lambda: k("conv", "bias_fwd")(
        grid, block, (y, per_c[0], ln, np.int32(c), np.int32(h * h))), 2 * count * it, 0))
    cases.append(("bias_bwd", shape, lambda: k("conv", "bias_bwd")(
        (c,), per_channel_block, (x, per_c[0], *geo)), count * it, 0))
    cat = xp.empty((n, 2 * c, h, h), dtype)
    cases.append(("concat_fwd", shape, lambda: k("concat", "concat_fwd")(
        grid, block, (x, cat, ln, np.int64(c * h * h), np.int64(2 * c * h * h), np.int64(0))),
        2 * count * it, 0))
    step = bk.asarray(np.zeros(1, np.int64))
    cases.append(("dropout_fwd", shape, lambda: k("dropout", "dropout_fwd")(
        *grid_1d(-(-count // 4)), (x, y, z, ln, np.uint64(0), step,
                                   np.uint32(philox.keep_threshold(0.5)), dtype(2))),
        3 * count * it, 0))
    loss = xp.empty((), dtype)
    cases.append(("mse_fwd", shape, lambda: k("losses", "mse_fwd")(
        (1,), reduction_block(count), (x, y, np.int32(1), z, loss, ln)), 3 * count * it, 0))
    hyper = bk.asarray(np.array([1.0, 2e-4, 4e-4, 1.0]))     # t, lr, step size, 1/sqrt(bc2)
    cases.append(("adam_fwd", f"{count} params", lambda: k("adam", "adam_fwd")(
        grid, block, (x, y, z, cat.reshape(-1)[:count], ln, np.float64(0.5), np.float64(0.999),
                      np.float64(1e-8), hyper)), 7 * count * it, 0))
    return cases


def bench_kernels(device: str, size: int, repeats: int, dtype=np.float32) -> dict:
    bk = backend.get_backend(device)
    with backend.using(bk):
        bandwidth = copy_bandwidth(bk, 1 << (28 if bk.name == "cuda" else 24))
        rows = []
        for name, shape, launch, n_bytes, flops in _cases(bk, size, dtype):
            seconds = best_of(launch, repeats, bk.synchronize)
            rows.append({"kernel": name, "shape": shape, "ms": seconds * 1e3,
                         "gb_per_s": n_bytes / seconds / 1e9,
                         "floor_ms": n_bytes / bandwidth * 1e3,
                         "gflop_per_s": flops / seconds / 1e9 if flops else None})
    return {"kind": "kernels", "device": bk.name, "size": size, "dtype": np.dtype(dtype).name,
            "copy_gb_per_s": bandwidth / 1e9, "rows": rows}
