"""Flat parameter buffers (nn/flat.py), gradients delivered into .grad by the ops
(ops/grad_into.py) and outputs written into planned buffers (Module.forward_into)."""
import numpy as np
import pytest

from p2p_cupy import nn
from p2p_cupy.models import define_G
from p2p_cupy.nn.flat import FlatParameters
from p2p_cupy.nn.module import Parameter
from p2p_cupy.optim import Adam


def test_parameters_become_views_of_one_buffer_keeping_values_and_grads(bk, rng):
    values = [rng.standard_normal(s).astype(np.float32) for s in ((2, 3), (4,), ())]
    params = [Parameter(bk.asarray(v)) for v in values]
    params[1].grad = bk.asarray(np.arange(4, dtype=np.float32))
    flat = FlatParameters(params)
    np.testing.assert_array_equal(bk.to_numpy(flat.data),
                                  np.concatenate([v.reshape(-1) for v in values]))
    for p, v in zip(params, values):
        assert p.data.base is not None and bk.xp.shares_memory(p.data, flat.data)
        assert bk.xp.shares_memory(p.grad, flat.grad)
        np.testing.assert_array_equal(bk.to_numpy(p.data), v)
    np.testing.assert_array_equal(bk.to_numpy(params[1].grad), np.arange(4))
    flat.data[...] = 7                                  # one buffer: a write reaches all
    assert all(np.all(bk.to_numpy(p.data) == 7) for p in params)
    params[0].grad = bk.asarray(np.ones((2, 3), np.float32))   # replaced: sync copies it in
    assert flat.sync() and params[0].grad is flat.grad_views[0]
    np.testing.assert_array_equal(bk.to_numpy(flat.grad)[:6], np.ones(6))
    flat.zero_grad()
    assert all(p.zeroed for p in params) and not bk.to_numpy(flat.grad).any()


def test_mixed_dtypes_are_refused_by_name(bk):
    with pytest.raises(ValueError, match="FlatParameters: the parameters mix dtypes"):
        FlatParameters([Parameter(bk.xp.zeros(2, np.float32)),
                        Parameter(bk.xp.zeros(2, np.float64))])


def test_module_load_state_dict_copies_into_the_optimizers_buffers(bk):
    G = define_G("unet_32", ngf=2, num_downs=5)
    G.to_backend(bk)
    opt = Adam(G.parameters())
    views = [p.data for p in G.parameters()]
    state = {k: v + 1 for k, v in G.state_dict().items()}
    G.load_state_dict(state)
    assert all(p.data is v for p, v in zip(G.parameters(), views))
    np.testing.assert_array_equal(bk.to_numpy(G.parameters()[0].data), state["enc1.0.weight"])
    assert bk.xp.shares_memory(G.parameters()[0].data, opt.flat.data)


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Conv2d(3, 4, 4, 2, 1, rng=np.random.default_rng(1)), (2, 3, 8, 8)),
    (lambda: nn.ConvTranspose2d(3, 4, 4, 2, 1, rng=np.random.default_rng(1)), (2, 3, 4, 4)),
    # one output channel: kernels/conv_one_out.cu's dw on the kernel backends
    (lambda: nn.Conv2d(3, 1, 4, 1, 1, rng=np.random.default_rng(1)), (2, 3, 6, 6)),
    (lambda: nn.BatchNorm2d(3, rng=np.random.default_rng(1)), (2, 3, 5, 5)),
])
def test_gradients_land_in_grad_written_when_zeroed_and_added_otherwise(bk, rng, make, shape):
    """One module's gradients after zero_grad + backward (the op writes them into .grad)
    are those of a plain accumulate; a second backward adds the same again."""
    x = bk.asarray(rng.standard_normal(shape).astype(np.float32))
    layer = make()
    dy = bk.asarray(rng.standard_normal(layer.forward(x).shape).astype(np.float32))
    reference = make()
    reference.forward(x)
    reference.backward(dy)                          # grads None before: a plain copy
    layer.zero_grad()
    buffers = [p.grad for p in layer.parameters()]
    layer.backward(dy)
    for p, q, buffer in zip(layer.parameters(), reference.parameters(), buffers):
        assert p.grad is buffer and not p.zeroed
        np.testing.assert_array_equal(bk.to_numpy(p.grad), bk.to_numpy(q.grad))
    layer.backward(dy)
    for p, q in zip(layer.parameters(), reference.parameters()):
        once = bk.to_numpy(q.grad)
        np.testing.assert_array_equal(bk.to_numpy(p.grad), once + once)


@pytest.mark.parametrize("skips", [True, False])
def test_unet_forward_into_a_strided_half_equals_forward(bk, rng, skips):
    G = define_G("unet_32", ngf=2, num_downs=5) if skips else define_G(
        "encoder_decoder_32", ngf=2, num_downs=5)
    G.to_backend(bk)
    x = bk.asarray(rng.uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32))
    expected = bk.to_numpy(G.forward(x))
    pair = bk.xp.zeros((2, 6, 32, 32), np.float32)
    for m in G.named_modules():
        if isinstance(m[1], nn.Dropout):
            m[1].step[...] = 0                      # the same masks again
    y = G.forward_into(x, pair[:, 3:])
    assert bk.xp.shares_memory(y, pair)
    np.testing.assert_array_equal(bk.to_numpy(pair[:, 3:]), expected)
    assert not bk.to_numpy(pair[:, :3]).any()
