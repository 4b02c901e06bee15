"""NumPy conv speed next to a plain matmul of the same GEMM size (issue 2's speed check).

    python benchmarks/numpy_conv_vs_matmul.py [--repeats 5]

Forward: conv2d 1x64x128x128 -> 128 channels, 4x4 stride 2 padding 1 (pix2pix's down2) is
the GEMM (Cout) x (Cin*k*k) @ (Cin*k*k) x (N*Ho*Wo); the matmul of that size on the same
machine is the bar (the issue asks for at least half of it). Then the backward (dx, dw) of
the same layer, and forward + backward of other pix2pix layers: U-Net-256's first conv,
PatchGAN's biggest conv, the decoder's transposed convs, and those at twice the size.
FLOPs count 2 per multiply-add, padded taps included (docs/DESIGN.md, "The cost model").
"""
import argparse
import time

import numpy as np

from p2p_cupy.ops import conv


def best_seconds(fn, repeats):
    fn()  # warm-up: first-touch page faults, BLAS thread start
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    def randn(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    # conv fwd vs plain matmul of the same GEMM
    n, cin, h, cout, k, s, p = 1, 64, 128, 128, 4, 2, 1
    ho = (h + 2 * p - k) // s + 1
    x, w = randn(n, cin, h, h), randn(cout, cin, k, k)
    flops = 2 * cout * cin * k * k * n * ho * ho
    a, b = randn(cout, cin * k * k), randn(cin * k * k, n * ho * ho)
    t_mm = best_seconds(lambda: a @ b, args.repeats)
    t_fwd = best_seconds(lambda: conv.conv2d_forward(x, w, None, s, p), args.repeats)
    print(f"GEMM {cout}x{cin * k * k} @ {cin * k * k}x{n * ho * ho} ({flops / 1e9:.3f} GFLOP), "
          f"float32, best of {args.repeats}")
    print(f"  plain matmul        {t_mm * 1e3:8.2f} ms  {flops / t_mm / 1e9:7.1f} GFLOP/s")
    print(f"  conv2d forward      {t_fwd * 1e3:8.2f} ms  {flops / t_fwd / 1e9:7.1f} GFLOP/s")
    print(f"  ratio conv / matmul {t_mm / t_fwd:.2f}  (issue 2 asks >= 0.5)")

    print("\nforward and backward, float32 (backward = dx and dw; GFLOP/s over the 2 GEMMs)")
    layers = [  # (name, transposed, n, cin, h, cout, k, s, p)
        ("down2 conv 64->128 128->64", False, 1, 64, 128, 128, 4, 2, 1),
        ("down2 at batch 4", False, 4, 64, 128, 128, 4, 2, 1),
        ("down1 conv 3->64 256->128", False, 1, 3, 256, 64, 4, 2, 1),
        ("D.c4 conv 256->512 s1 32->31", False, 1, 256, 32, 512, 4, 1, 1),
        ("up4 convT 512->256 16->32", True, 1, 512, 16, 256, 4, 2, 1),
        ("up3 convT 512->128 32->64", True, 1, 512, 32, 128, 4, 2, 1),
        ("up2 convT 256->64 64->128", True, 1, 256, 64, 64, 4, 2, 1),
        ("up1 convT 128->3 128->256", True, 1, 128, 128, 3, 4, 2, 1),
        ("convT 1024->256 32->64", True, 1, 1024, 32, 256, 4, 2, 1),
        ("convT 512->128 64->128", True, 1, 512, 64, 128, 4, 2, 1),
        ("convT 256->64 128->256", True, 1, 256, 128, 64, 4, 2, 1),
    ]
    print(f"  {'layer':30s} {'GFLOP':>6s} {'fwd ms':>8s} {'GFLOP/s':>8s} "
          f"{'bwd ms':>8s} {'GFLOP/s':>8s}")
    for name, transposed, n, cin, h, cout, k, s, p in layers:
        x = randn(n, cin, h, h)
        if transposed:
            w = randn(cin, cout, k, k)
            forward, backward = conv.conv_transpose2d_forward, conv.conv_transpose2d_backward
            gemm_points = n * h * h  # the GEMM's (N*H*W) side is the small (input) grid
        else:
            w = randn(cout, cin, k, k)
            forward, backward = conv.conv2d_forward, conv.conv2d_backward
            gemm_points = n * ((h + 2 * p - k) // s + 1) ** 2
        flops = 2 * cin * cout * k * k * gemm_points
        y, cache = forward(x, w, None, s, p)
        dy = randn(*y.shape)
        t_fwd = best_seconds(lambda: forward(x, w, None, s, p), args.repeats)
        t_bwd = best_seconds(lambda: backward(dy, cache), args.repeats)
        print(f"  {name:30s} {flops / 1e9:6.3f} {t_fwd * 1e3:8.2f} {flops / t_fwd / 1e9:8.1f} "
              f"{t_bwd * 1e3:8.2f} {2 * flops / t_bwd / 1e9:8.1f}")


if __name__ == "__main__":
    main()
