"""The execution model of the emulator, with the test kernels of tests/kernels/*.cu.

Correct kernels run on every kernel backend (emu, and cuda where a GPU is present) and, on
emu, in both thread orders with the same result; buggy kernels must be reported or exposed.
"""
import time
from pathlib import Path

import numpy as np
import pytest

from p2p_cupy.kernels.loader import KernelModules, thread_order

HERE = Path(__file__).resolve().parent


@pytest.fixture
def modules(kernel_bk):
    return KernelModules(kernel_bk.name, source_dir=HERE)


@pytest.fixture(scope="module")
def emu():
    return KernelModules("emu", source_dir=HERE)


def run_both_orders(bk, launch):
    """launch() -> host array; on emu run forward and reverse and require equal results."""
    if bk.name != "emu":
        return launch()
    with thread_order("forward"):
        forward = launch()
    with thread_order("reverse"):
        reverse = launch()
    np.testing.assert_array_equal(forward, reverse)
    return forward


@pytest.mark.parametrize("dtype,suffix,tol", [(np.float32, "f32", 1e-5), (np.float64, "f64", 1e-12)])
def test_tiled_matmul_matches_numpy_in_both_orders(kernel_bk, modules, rng, dtype, suffix, tol):
    m, n, k = 37, 45, 50  # not multiples of the 16 x 16 tile
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    fn = modules.get_function("matmul_tiled", f"matmul_tiled_{suffix}")

    def launch():
        c = kernel_bk.xp.zeros((m, n), dtype)
        fn(((n + 15) // 16, (m + 15) // 16), (16, 16),
           (kernel_bk.asarray(a), kernel_bk.asarray(b), c, np.int32(m), np.int32(n), np.int32(k)))
        return kernel_bk.to_numpy(c)

    np.testing.assert_allclose(run_both_orders(kernel_bk, launch), a @ b, rtol=tol, atol=tol)


@pytest.mark.parametrize("block", [32, 256, 1024])
@pytest.mark.parametrize("dtype,suffix", [(np.float32, "f32"), (np.float64, "f64")])
def test_block_sum_with_warp_shuffles(kernel_bk, modules, rng, block, dtype, suffix):
    n = 3 * block - 5  # the last block is partly empty
    x = rng.standard_normal(n).astype(dtype)
    fn = modules.get_function("block_reduce", f"block_sum_{suffix}")

    def launch():
        out = kernel_bk.xp.zeros(3, dtype)
        fn((3,), (block,), (kernel_bk.asarray(x), out, np.int32(n)))
        return kernel_bk.to_numpy(out)

    expected = np.add.reduceat(x, [0, block, 2 * block])
    np.testing.assert_allclose(run_both_orders(kernel_bk, launch), expected, rtol=1e-5)


def test_warp_intrinsics_return_cudas_values(kernel_bk, modules):
    n_threads = 64
    fn = modules.get_function("block_reduce", "warp_intrinsics")

    def launch():
        out = kernel_bk.xp.zeros(9 * n_threads, np.int32)
        fn((1,), (n_threads,), (out,))
        return kernel_bk.to_numpy(out).reshape(9, n_threads)

    got = run_both_orders(kernel_bk, launch)
    t = np.arange(n_threads)
    lane, warp0 = t % 32, t - t % 32
    v = 100 * t

    def at(src_lane):
        return 100 * (warp0 + src_lane)

    width8_first = lane - lane % 8
    expected = [
        at(np.full_like(lane, 3)),
        at(lane ^ 5),
        np.where(lane + 4 < 32, at(lane + 4), v),
        np.where(lane >= 4, at(lane - 4), v),
        np.where(lane + 1 < width8_first + 8, at(lane + 1), v),
        np.full_like(t, sum(1 << i for i in range(32) if i % 3 == 0)).astype(np.uint32).view(np.int32),
        np.ones_like(t), np.ones_like(t), np.zeros_like(t),
    ]
    np.testing.assert_array_equal(got, np.stack(expected))


def test_warp_intrinsics_in_one_warp_while_the_others_returned(kernel_bk, modules):
    x = np.arange(32, dtype=np.float32)
    fn = modules.get_function("block_reduce", "first_warp_sum_f32")

    def launch():
        out = kernel_bk.xp.zeros(1, np.float32)
        fn((1,), (96,), (kernel_bk.asarray(x), out))
        return kernel_bk.to_numpy(out)

    np.testing.assert_array_equal(run_both_orders(kernel_bk, launch), [x.sum()])


@pytest.mark.parametrize("dtype,suffix", [(np.float32, "f32"), (np.float64, "f64")])
def test_dynamic_shared_memory_reverses_each_block(kernel_bk, modules, dtype, suffix):
    block, blocks = 128, 3
    x = np.arange(block * blocks, dtype=dtype)
    fn = modules.get_function("dynamic_shared", f"reverse_chunks_{suffix}")

    def launch():
        y = kernel_bk.xp.zeros_like(kernel_bk.asarray(x))
        fn((blocks,), (block,), (kernel_bk.asarray(x), y), shared_mem=block * x.itemsize)
        return kernel_bk.to_numpy(y)

    got = run_both_orders(kernel_bk, launch)
    np.testing.assert_array_equal(got, x.reshape(blocks, block)[:, ::-1].reshape(-1))


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_early_exit_before_barrier_is_reported(emu, order):
    fn = emu.get_function("buggy", "early_exit_before_barrier")
    x, y = np.ones(64, np.float32), np.zeros(64, np.float32)
    with thread_order(order), pytest.raises(RuntimeError, match="early_exit_before_barrier.*barrier"):
        fn((1,), (64,), (x, y, np.int32(40)))


def test_threads_at_different_barriers_are_reported(emu):
    fn = emu.get_function("buggy", "divergent_barriers")
    with pytest.raises(RuntimeError, match=r"divergent_barriers.*different barriers.*buggy\.cu:\d+"):
        fn((1,), (64,), (np.zeros(64, np.float32),))


def test_reverse_order_exposes_a_missing_barrier(emu):
    fn = emu.get_function("buggy", "shift_racy")
    x = np.arange(1, 257, dtype=np.float32)
    expected = np.concatenate([[0.0], x[:-1]]).astype(np.float32)
    results = {}
    for fixed in (0, 1):
        for order in ("forward", "reverse"):
            y = np.zeros_like(x)
            with thread_order(order):
                fn((1,), (256,), (x, y, np.int32(fixed)))
            results[fixed, order] = y
    np.testing.assert_array_equal(results[0, "forward"], expected)  # the race hides here
    assert np.isnan(results[0, "reverse"][1:]).all()  # ... and shows here: poison was read
    np.testing.assert_array_equal(results[1, "forward"], expected)
    np.testing.assert_array_equal(results[1, "reverse"], expected)


def test_unwritten_shared_memory_reads_as_nan(emu):
    fn = emu.get_function("buggy", "read_unwritten_shared")
    y = np.zeros(64, np.float32)
    fn((1,), (64,), (y,))
    assert (y[:32] == 1).all() and np.isnan(y[32:]).all()


def test_shuffle_not_reached_by_the_whole_warp_is_reported(emu):
    fn = emu.get_function("buggy", "shuffle_half_warp")
    with pytest.raises(RuntimeError, match="shuffle_half_warp.*all 32 lanes"):
        fn((1,), (32,), (np.zeros(32, np.float32),))


def test_shuffle_in_a_partial_warp_is_reported(emu):
    fn = emu.get_function("block_reduce", "block_sum_f32")
    with pytest.raises(RuntimeError, match="block_sum_f32.*full warps"):
        fn((1,), (48,), (np.ones(48, np.float32), np.zeros(1, np.float32), np.int32(48)))


def test_shuffle_with_partial_mask_is_reported(emu):
    fn = emu.get_function("buggy", "shuffle_partial_mask")
    with pytest.raises(RuntimeError, match="partial mask"):
        fn((1,), (32,), (np.zeros(32, np.float32),))


def test_thousand_blocks_of_256_threads_take_seconds_not_minutes(emu, rng):
    """The issue's speed target; the measured times are in the emu helper's note."""
    x = rng.standard_normal(1000 * 256).astype(np.float32)
    out = np.zeros(1000, np.float32)
    reduce_fn = emu.get_function("block_reduce", "block_sum_f32")
    a = rng.standard_normal((16 * 40, 64)).astype(np.float32)   # 40 x 25 blocks of 16 x 16
    b = rng.standard_normal((64, 16 * 25)).astype(np.float32)
    c = np.zeros((a.shape[0], b.shape[1]), np.float32)
    matmul_fn = emu.get_function("matmul_tiled", "matmul_tiled_f32")
    start = time.perf_counter()
    reduce_fn((1000,), (256,), (x, out, np.int32(x.size)))
    matmul_fn((25, 40), (16, 16), (a, b, c, np.int32(c.shape[0]), np.int32(c.shape[1]), np.int32(64)))
    elapsed = time.perf_counter() - start
    np.testing.assert_allclose(out, x.reshape(1000, 256).sum(1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
    assert elapsed < 10.0, f"1000 blocks x 256 threads took {elapsed:.1f} s"
