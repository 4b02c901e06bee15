"""kernels/elementwise.cuh's packed loop (float4 packs, two in flight, scalar tail, scalar
fallback for unaligned arrays) through the ops that use it, against NumPy; emu in both
block orders (and cuda), float32 and float64."""
import numpy as np
import pytest

from p2p_cupy import backend
from p2p_cupy.ops import activations, concat, dropout, losses

TOL = {np.float32: 1e-6, np.float64: 1e-14}


def _on_numpy(fn, *arrays):
    with backend.using("numpy"):
        return fn(*arrays)


ACTIVATIONS = {   # name -> the backward's cache, made from the forward's output y
    "leaky_relu": lambda y: (y, 0.2),
    "relu": lambda y: y,
    "tanh": lambda y: y,
    "sigmoid": lambda y: y,
}


def _unaligned(bk, a):
    """A contiguous copy of a whose data starts one element past a 16-byte boundary."""
    base = bk.xp.empty(a.size + 1, a.dtype)
    view = base[1:].reshape(a.shape)
    view[...] = bk.asarray(a)
    return view


# 2053 elements: 513 packs (an odd number: one thread's last pack alone) and a tail of 1;
# 3: a tail only
@pytest.mark.parametrize("n", [2053, 3])
@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packed_elementwise_ops_match_numpy(ordered_kernel_bk, n, aligned, dtype, rng):
    bk = ordered_kernel_bk
    put = bk.asarray if aligned else (lambda a: _unaligned(bk, a))
    x, dy, t = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    for name, cache_of in ACTIVATIONS.items():
        forward = getattr(activations, f"{name}_forward")
        backward = getattr(activations, f"{name}_backward")
        args = (0.2,) if name == "leaky_relu" else ()
        ref_y, _ = _on_numpy(forward, x, *args)
        np.testing.assert_allclose(bk.to_numpy(forward(put(x), *args)[0]), ref_y,
                                   rtol=TOL[dtype], atol=TOL[dtype], err_msg=name)
        # backward from the reference's y, so both sides see the same cache
        np.testing.assert_allclose(bk.to_numpy(backward(put(dy), cache_of(put(ref_y)))),
                                   _on_numpy(backward, dy, cache_of(ref_y)),
                                   rtol=TOL[dtype], atol=TOL[dtype], err_msg=name)
    y, mask = dropout.dropout_forward(put(x), 0.5, 7, 3)
    ref_y, ref_mask = _on_numpy(dropout.dropout_forward, x, 0.5, 7, 3)
    np.testing.assert_array_equal(bk.to_numpy(mask), ref_mask)
    np.testing.assert_array_equal(bk.to_numpy(y), ref_y)
    np.testing.assert_array_equal(bk.to_numpy(dropout.dropout_backward(put(dy), put(ref_mask))),
                                  dy * ref_mask)
    for name in ("l1", "mse", "bce_with_logits"):
        forward, backward = getattr(losses, f"{name}_forward"), getattr(losses, f"{name}_backward")
        value, cache = forward(put(x), put(t))
        ref_value, ref_cache = _on_numpy(forward, x, t)
        np.testing.assert_allclose(float(bk.to_numpy(value)), float(ref_value), rtol=TOL[dtype] * 10)
        np.testing.assert_allclose(bk.to_numpy(backward(cache)), _on_numpy(backward, ref_cache),
                                   rtol=TOL[dtype], atol=TOL[dtype] / n, err_msg=name)


def test_concat_op_matches_numpy(ordered_kernel_bk, rng):
    bk = ordered_kernel_bk
    parts = [rng.standard_normal((2, c, 3, 5)).astype(np.float32) for c in (1, 3, 2)]
    y, cache = concat.concat_forward([bk.asarray(p) for p in parts])
    np.testing.assert_array_equal(bk.to_numpy(y), np.concatenate(parts, axis=1))
    for back, part in zip(concat.concat_backward(y, cache), parts):
        np.testing.assert_array_equal(bk.to_numpy(back), part)


def test_kernels_loop_over_planes_and_images_beyond_a_capped_grid(ordered_kernel_bk, monkeypatch,
                                                                   rng):
    """With gridDim.y and .z capped at 2 (the hardware's 65535 made small), the 3-D grid
    kernels' grid-stride loops must still cover every channel and image (the training
    batch norm keeps one grid row per image: its batch stays within the cap)."""
    from p2p_cupy.ops import batch_norm, conv, launch
    monkeypatch.setattr(launch, "MAX_GRID_YZ", 2)
    bk = ordered_kernel_bk
    x = rng.standard_normal((3, 5, 6, 6))
    w, b = rng.standard_normal((4, 5, 4, 4)), rng.standard_normal(4)
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    for (y, _), (ref, _) in [
        (conv.conv2d_forward(*(bk.asarray(a) for a in (x, w, b)), 2, 1),
         _on_numpy(conv.conv2d_forward, x, w, b, 2, 1)),
        (conv.conv_transpose2d_forward(bk.asarray(x), bk.asarray(w.transpose(1, 0, 2, 3).copy()),
                                       None, 2, 1),
         _on_numpy(conv.conv_transpose2d_forward, x, w.transpose(1, 0, 2, 3).copy(), None, 2, 1)),
        (batch_norm.batch_norm2d_forward(*(bk.asarray(a) for a in (x[:2], gamma, beta,
                                                                  np.zeros(5), np.ones(5))), True),
         _on_numpy(batch_norm.batch_norm2d_forward, x[:2], gamma, beta, np.zeros(5), np.ones(5),
                   True)),
        (batch_norm.batch_norm2d_forward(*(bk.asarray(a) for a in (x, gamma, beta, np.zeros(5),
                                                                  np.ones(5))), False),
         _on_numpy(batch_norm.batch_norm2d_forward, x, gamma, beta, np.zeros(5), np.ones(5), False)),
        (concat.concat_forward([bk.asarray(x), bk.asarray(x)]),
         _on_numpy(concat.concat_forward, [x, x])),
    ]:
        np.testing.assert_allclose(bk.to_numpy(y), ref, rtol=1e-12, atol=1e-12)
