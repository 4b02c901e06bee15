"""The backend rules: an array says where it lives (backend.of); the current backend is a
context variable, set only inside `with backend.using(...)`, and only for that block."""
import threading
import types

import numpy as np
import pytest

from p2p_cupy import backend, nn
from p2p_cupy.optim import Adam


class DeviceArray:
    """Stands for a CuPy array: anything that is not a NumPy array lives on the device."""


@pytest.fixture
def fake_cuda(monkeypatch):
    """A cuda backend whose array module would fail if anything asked it for host work."""
    xp = types.SimpleNamespace(__name__="fake_cupy")
    fake = backend.Backend("cuda", xp)
    monkeypatch.setitem(backend._cache, "cuda", fake)
    return fake


def test_using_sets_the_backend_for_the_block_only():
    assert backend.current().name == "numpy"
    with backend.using("numpy") as outer:
        assert backend.current() is outer
        with pytest.raises(RuntimeError):
            with backend.using(backend.Backend("other", np)):
                raise RuntimeError("the previous backend comes back on errors too")
        assert backend.current() is outer
    assert backend.current().name == "numpy"


def test_another_thread_does_not_see_this_threads_backend():
    seen = []
    with backend.using(backend.Backend("mine", np)):
        thread = threading.Thread(target=lambda: seen.append(backend.current().name))
        thread.start()
        thread.join()
        assert backend.current().name == "mine"
    assert seen == ["numpy"]


def test_an_array_says_where_it_lives(fake_cuda):
    host = np.zeros(3, np.float32)
    emu_like = backend.Backend("emu", np)
    assert backend.of(host).name == "numpy"
    assert backend.of(DeviceArray()) is fake_cuda
    with backend.using(emu_like):          # host arrays on a host backend: that backend
        assert backend.of(host) is emu_like
    with backend.using(fake_cuda):         # host arrays under cuda are still host arrays
        assert backend.of(host).name == "numpy"


def test_parameters_modules_and_adam_follow_their_arrays_not_the_context(fake_cuda):
    layer = nn.Conv2d(2, 3, 3, rng=np.random.default_rng(0))   # built on numpy
    opt = Adam(layer.parameters())
    with backend.using(fake_cuda):         # fake_cuda's xp has no zeros_like, no asarray
        layer.load_state_dict(layer.state_dict())
        layer.zero_grad()
        assert all(isinstance(p.grad, np.ndarray) for p in layer.parameters())
        for p in layer.parameters():
            p.grad[...] = 1.0
        opt.step()
        assert set(opt.state_dict()) >= {"m.0", "v.0"}
    assert isinstance(layer.weight.data, np.ndarray)
