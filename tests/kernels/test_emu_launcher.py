"""The emulator's launcher: argument checks, launch limits and guard bytes."""
from pathlib import Path

import numpy as np
import pytest

from p2p_cupy.kernels.emu.launcher import DEFAULT_SHARED_BYTES
from p2p_cupy.kernels.loader import KernelModules

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def emu():
    return KernelModules("emu", source_dir=HERE)


@pytest.fixture(scope="module")
def matmul(emu):
    return emu.get_function("matmul_tiled", "matmul_tiled_f32")


def matmul_args(**replace):
    args = dict(a=np.ones((4, 4), np.float32), b=np.ones((4, 4), np.float32),
                c=np.zeros((4, 4), np.float32), m=np.int32(4), n=np.int32(4), k=np.int32(4))
    args.update(replace)
    return tuple(args.values())


@pytest.mark.parametrize("replace,message", [
    (dict(m=4), r"argument 3 \(int m\) expects a numpy.int32 scalar, got int 4"),
    (dict(m=np.int64(4)), r"argument 3 \(int m\) expects a numpy.int32 scalar, got numpy.int64"),
    (dict(m=4.0), r"expects a numpy.int32 scalar, got float"),
    (dict(m=np.array(4, np.int32)), r"expects a numpy.int32 scalar, got ndarray"),
    (dict(a=np.ones((4, 4), np.float64)), r"argument 0 \(const float\* a\) expects a C-contiguous "
                                          r"float32 array, got a float64 array"),
    (dict(b=np.ones((4, 8), np.float32)[:, ::2]), r"argument 1 .* got a non-contiguous array"),
    (dict(c=[0.0] * 16), r"argument 2 \(float\* c\) .* got list"),
    (dict(c=np.zeros((4, 4), np.float32).T.copy(order="F")), r"got a non-contiguous array"),
])
def test_wrong_argument_types_are_rejected(matmul, replace, message):
    with pytest.raises(ValueError, match=rf"kernel matmul_tiled_f32 \(matmul_tiled.cu\): .*{message}"):
        matmul((1,), (16, 16), matmul_args(**replace))


def test_read_only_output_and_wrong_count_are_rejected(matmul):
    c = np.zeros((4, 4), np.float32)
    c.flags.writeable = False
    with pytest.raises(ValueError, match="read-only array"):
        matmul((1,), (16, 16), matmul_args(c=c))
    with pytest.raises(ValueError, match=r"expected 6 arguments \(const float\* a, .*int k\), got 5"):
        matmul((1,), (16, 16), matmul_args()[:5])


@pytest.mark.parametrize("grid,block,message", [
    ((1,), (32, 16), "512 threads; the limit is 256"),  # its __launch_bounds__(256)
    ((1,), (1025,), "1025 threads"),
    ((1,), (1, 1, 65), r"\(1024, 1024, 64\) per dimension"),
    ((1, 65536), (32,), "grid"),
    ((0,), (32,), "grid"),
    ((1,), "32", "block must be an int or a tuple"),
])
def test_launch_limits_of_real_gpus_are_checked(matmul, grid, block, message):
    with pytest.raises(ValueError, match=message):
        matmul(grid, block, matmul_args())


def test_at_most_1024_threads_per_block(emu):
    fn = emu.get_function("matmul_tiled", "matmul_tiled_f64")  # no __launch_bounds__
    args = (np.ones((4, 4)), np.ones((4, 4)), np.zeros((4, 4)), np.int32(4), np.int32(4), np.int32(4))
    with pytest.raises(ValueError, match="1056 threads; the limit is 1024"):
        fn((1,), (32, 33), args)


def test_shared_memory_limit_counts_static_and_dynamic_bytes(emu):
    fn = emu.get_function("dynamic_shared", "static_and_dynamic")
    static = 4096 * 4
    y = np.zeros(32, np.float32)
    fn((1,), (32,), (y,), shared_mem=DEFAULT_SHARED_BYTES - static)  # exactly at the limit
    np.testing.assert_array_equal(y, 3.0)
    with pytest.raises(ValueError, match="exceeds 49152 B"):
        fn((1,), (32,), (y,), shared_mem=DEFAULT_SHARED_BYTES - static + 4)
    fn.max_dynamic_shared_size_bytes = 64 * 1024  # the kernel opts in, as with CuPy
    try:
        fn((1,), (32,), (y,), shared_mem=64 * 1024)
        with pytest.raises(ValueError, match="opt-in"):
            fn((1,), (32,), (y,), shared_mem=64 * 1024 + 4)
    finally:
        fn.max_dynamic_shared_size_bytes = None


@pytest.mark.parametrize("name,side", [("off_by_one", "after its end"),
                                       ("off_by_minus_one", "before its start")])
def test_out_of_bounds_writes_hit_the_guard_bytes(emu, name, side):
    fn = emu.get_function("buggy", name)
    y = np.zeros(60, np.float32)
    args = (y, np.int32(60)) if name == "off_by_one" else (y,)
    with pytest.raises(RuntimeError, match=f"kernel {name} .*out-of-bounds write {side} of output 'y'"):
        fn((1,), (64,), args)


def test_in_place_launch_sees_one_array(emu):
    """x and y are the same array: the guarded copy must be shared, not duplicated."""
    fn = emu.get_function("dynamic_shared", "reverse_chunks_f32")
    x = np.arange(64, dtype=np.float32)
    fn((2,), (32,), (x, x), shared_mem=32 * 4)
    np.testing.assert_array_equal(x, np.arange(64, dtype=np.float32).reshape(2, 32)[:, ::-1].reshape(-1))


def test_outputs_that_are_views_of_a_larger_array_are_written_in_place(emu):
    fn = emu.get_function("dynamic_shared", "reverse_chunks_f32")
    x = np.arange(32, dtype=np.float32)
    big = np.zeros(96, np.float32)
    fn((1,), (32,), (x, big[32:64]), shared_mem=32 * 4)
    np.testing.assert_array_equal(big[32:64], x[::-1])
    assert (big[:32] == 0).all() and (big[64:] == 0).all()
