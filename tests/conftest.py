"""Shared fixtures. `bk` runs a test once per backend present on this machine.

numpy always runs; emu runs where g++ can build the emulator (CI included); cuda runs
where CuPy sees a GPU. Absent backends are skipped with the reason shown (pytest -rs).
"""
import signal

import numpy as np
import pytest

from p2p_cupy import backend

ALL_BACKENDS = ("numpy", "emu", "cuda")


@pytest.fixture(autouse=True, scope="session")
def ctrl_c_is_delivered():
    """Some tests send Ctrl-C (SIGINT) to this process or to a child. A shell starts a
    background job (`pytest ... &` in a script) with SIGINT ignored, and children inherit
    that: Python's own handler is put back, so those tests test our code, not the shell."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield


def _backend_or_skip(name):
    try:
        return backend.get_backend(name)
    except backend.BackendUnavailable as e:
        pytest.skip(f"backend {name} unavailable: {e}")


@pytest.fixture(params=ALL_BACKENDS)
def bk(request):
    """The backend under test, made current for the duration of the test."""
    b = _backend_or_skip(request.param)
    with backend.using(b):
        yield b


@pytest.fixture(params=["emu", "cuda"])
def kernel_bk(request):
    """Only the backends that run our CUDA kernels (emu, cuda)."""
    b = _backend_or_skip(request.param)
    with backend.using(b):
        yield b


KERNEL_RUNS = (("emu", "forward"), ("emu", "reverse"), ("cuda", "forward"))


@pytest.fixture(params=KERNEL_RUNS, ids=lambda run: "-".join(run))
def ordered_kernel_bk(request):
    """kernel_bk, with emu run twice: threads and blocks in forward, then reverse order
    (a race or a dependence on block order gives different results, see kernels/README.md)."""
    from p2p_cupy.kernels.loader import thread_order
    name, order = request.param
    b = _backend_or_skip(name)
    with backend.using(b), thread_order(order):
        yield b


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def check_backward_without_input_grad(bk):
    """check(build, x): two fresh modules from build() run forward on x and backward on the
    same dy, one with backward, one with backward_without_input_grad; the second returns
    None and accumulates bit-identical parameter gradients."""
    def check(build, x):
        grads = []
        for skip_dx in (False, True):
            module = build()
            y = module.forward(x)
            module.zero_grad()
            dy = bk.asarray(np.linspace(-1, 1, y.size, dtype=np.float32).reshape(y.shape))
            dx = module.backward_without_input_grad(dy) if skip_dx else module.backward(dy)
            assert (dx is None) == skip_dx
            grads.append([bk.to_numpy(p.grad) for p in module.parameters()])
        for with_dx, without_dx in zip(*grads):
            np.testing.assert_array_equal(without_dx, with_dx)
    return check
