"""conv2d and conv_transpose2d against a direct-loop float64 oracle written here.

The oracle walks every (output pixel, input channel, kernel tap) with plain Python loops:
no im2col, no GEMM, nothing shared with p2p_cupy/ops/conv.py. Its gradients are the same
loops run backwards (the adjoint); one test checks them against finite differences.
"""
import itertools

import numpy as np
import pytest

from p2p_cupy.ops import conv

TOL = 1e-10


def _conv_taps(in_hw, k, stride, padding):
    """Yield (i, j, u, v, h, w): output pixel (i, j) reads input pixel (h, w) through tap (u, v)."""
    ho = (in_hw[0] + 2 * padding - k) // stride + 1
    wo = (in_hw[1] + 2 * padding - k) // stride + 1
    for i, j, u, v in itertools.product(range(ho), range(wo), range(k), range(k)):
        h, w = i * stride + u - padding, j * stride + v - padding
        if 0 <= h < in_hw[0] and 0 <= w < in_hw[1]:
            yield i, j, u, v, h, w


def naive_conv2d(x, w, b, stride, padding, dy=None):
    """Direct conv; with dy also returns (dx, dw, db) by running the loops as the adjoint."""
    n, cin, H, W = x.shape
    cout, _, k, _ = w.shape
    ho, wo = (H + 2 * padding - k) // stride + 1, (W + 2 * padding - k) // stride + 1
    y = np.zeros((n, cout, ho, wo))
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for i, j, u, v, h, ww in _conv_taps((H, W), k, stride, padding):
        for s in range(n):
            for o in range(cout):
                for c in range(cin):
                    y[s, o, i, j] += w[o, c, u, v] * x[s, c, h, ww]
                    if dy is not None:
                        dx[s, c, h, ww] += w[o, c, u, v] * dy[s, o, i, j]
                        dw[o, c, u, v] += x[s, c, h, ww] * dy[s, o, i, j]
    if b is not None:
        y += b[None, :, None, None]
    if dy is None:
        return y
    return y, dx, dw, dy.sum(axis=(0, 2, 3))


def naive_conv_transpose2d(x, w, b, stride, padding, dy=None, output_padding=0):
    """Direct transposed conv as a scatter: x[s, c, i, j] * w[c, o, u, v] -> y[s, o, h, w]."""
    n, cin, H, W = x.shape
    _, cout, k, _ = w.shape
    out_hw = ((H - 1) * stride - 2 * padding + k + output_padding,
              (W - 1) * stride - 2 * padding + k + output_padding)
    y = np.zeros((n, cout) + out_hw)
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    # the same (i, j) <-> (h, w) pairs as a conv over the output, whose windows land on x
    for i, j, u, v, h, ww in _conv_taps(out_hw, k, stride, padding):
        for s in range(n):
            for c in range(cin):
                for o in range(cout):
                    y[s, o, h, ww] += x[s, c, i, j] * w[c, o, u, v]
                    if dy is not None:
                        dx[s, c, i, j] += w[c, o, u, v] * dy[s, o, h, ww]
                        dw[c, o, u, v] += x[s, c, i, j] * dy[s, o, h, ww]
    if b is not None:
        y += b[None, :, None, None]
    if dy is None:
        return y
    return y, dx, dw, dy.sum(axis=(0, 2, 3))


def _conv_out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _transposed_view(bk, a):
    """`a` (4-D) on the backend as a non-contiguous view: its last two axes swapped in memory."""
    return bk.asarray(np.ascontiguousarray(a.transpose(0, 1, 3, 2))).transpose(0, 1, 3, 2)


def _sliced_view(bk, a):
    """`a` (4-D) on the backend as a non-contiguous view: every other column of a wider array."""
    wide = np.zeros(a.shape[:3] + (2 * a.shape[3],))
    wide[..., ::2] = a
    return bk.asarray(wide)[..., ::2]


def _assert_matches(bk, got, ref, dtype=np.float64, tol=TOL):
    got = bk.to_numpy(got)
    assert got.shape == ref.shape and got.dtype == dtype
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


CONV_CASES = [
    # (n, cin, cout, h, w, k, stride, padding): every k 1..4, stride 1..2, padding 0..2 on
    # odd sizes (where (H + 2p - k) % s != 0 leaves rows no window reaches), plus a few more
    (2, 3, 2, 7, 5, k, s, p) for k in (1, 2, 3, 4) for s in (1, 2) for p in (0, 1, 2)
] + [(1, 1, 1, 1, 1, 1, 1, 0), (3, 2, 4, 6, 6, 4, 2, 1), (1, 5, 3, 9, 4, 3, 2, 2),
     (1, 2, 3, 8, 7, 3, 3, 1), (2, 2, 1, 5, 5, 5, 1, 2),
     # pix2pix's k=4, s=2, p=1 at 8x8 and more, with an odd last row (column) 17
     (1, 2, 3, 17, 16, 4, 2, 1), (2, 3, 2, 16, 17, 4, 2, 1),
     # the ResNet generator's 7x7 convs (after a reflection pad: padding 0) and 3x3 s2 p1
     (2, 2, 3, 9, 8, 7, 1, 0), (1, 3, 2, 9, 8, 3, 2, 1)]
# (n, cin, cout, h, w, k, stride, padding, output_padding): the ResNet generator's
# up-sampling (k 3, s 2, p 1, op 1 doubles H x W exactly), and op up to stride - 1
OUTPUT_PADDING_CASES = [(2, 3, 2, 4, 5, 3, 2, 1, 1), (1, 2, 3, 3, 3, 3, 2, 1, 1),
                        (1, 2, 2, 4, 3, 4, 3, 1, 2), (2, 2, 3, 5, 4, 3, 3, 0, 1)]


@pytest.mark.parametrize("n,cin,cout,h,w,k,stride,padding", CONV_CASES)
def test_conv2d_forward_and_backward_match_direct_loops(bk, rng, n, cin, cout, h, w, k, stride,
                                                        padding):
    x = rng.standard_normal((n, cin, h, w))
    wt = rng.standard_normal((cout, cin, k, k))
    b = rng.standard_normal(cout)
    dy = rng.standard_normal((n, cout, _conv_out(h, k, stride, padding),
                              _conv_out(w, k, stride, padding)))
    y_ref, dx_ref, dw_ref, db_ref = naive_conv2d(x, wt, b, stride, padding, dy)

    y, cache = conv.conv2d_forward(_transposed_view(bk, x), _sliced_view(bk, wt), bk.asarray(b),
                                   stride, padding)
    dx, dw, db = conv.conv2d_backward(_sliced_view(bk, dy), cache)
    for got, ref in ((y, y_ref), (dx, dx_ref), (dw, dw_ref), (db, db_ref)):
        _assert_matches(bk, got, ref)


@pytest.mark.parametrize("n,cin,cout,h,w,k,stride,padding", CONV_CASES)
def test_conv_transpose2d_forward_and_backward_match_direct_loops(bk, rng, n, cin, cout, h, w, k,
                                                                  stride, padding):
    out_h, out_w = (h - 1) * stride - 2 * padding + k, (w - 1) * stride - 2 * padding + k
    x = rng.standard_normal((n, cin, h, w))
    wt = rng.standard_normal((cin, cout, k, k))
    b = rng.standard_normal(cout)
    dy = rng.standard_normal((n, cout, out_h, out_w))
    y_ref, dx_ref, dw_ref, db_ref = naive_conv_transpose2d(x, wt, b, stride, padding, dy)

    y, cache = conv.conv_transpose2d_forward(_sliced_view(bk, x), _transposed_view(bk, wt),
                                             bk.asarray(b), stride, padding)
    dx, dw, db = conv.conv_transpose2d_backward(_transposed_view(bk, dy), cache)
    for got, ref in ((y, y_ref), (dx, dx_ref), (dw, dw_ref), (db, db_ref)):
        _assert_matches(bk, got, ref)


@pytest.mark.parametrize("n,cin,cout,h,w,k,stride,padding,output_padding", OUTPUT_PADDING_CASES)
def test_conv_transpose2d_output_padding_matches_direct_loops(bk, rng, n, cin, cout, h, w, k,
                                                              stride, padding, output_padding):
    x = rng.standard_normal((n, cin, h, w))
    wt = rng.standard_normal((cin, cout, k, k))
    b = rng.standard_normal(cout)
    out_hw = tuple((size - 1) * stride - 2 * padding + k + output_padding for size in (h, w))
    dy = rng.standard_normal((n, cout) + out_hw)
    y_ref, dx_ref, dw_ref, db_ref = naive_conv_transpose2d(x, wt, b, stride, padding, dy,
                                                           output_padding)
    assert y_ref.shape[2:] == out_hw and np.abs(y_ref[:, :, -1]).max() > 0   # rows filled
    y, cache = conv.conv_transpose2d_forward(bk.asarray(x), bk.asarray(wt), bk.asarray(b),
                                             stride, padding, output_padding)
    dx, dw, db = conv.conv_transpose2d_backward(bk.asarray(dy), cache)
    for got, ref in ((y, y_ref), (dx, dx_ref), (dw, dw_ref), (db, db_ref)):
        _assert_matches(bk, got, ref)


def test_conv_transpose2d_rejects_output_padding_of_stride_or_more(bk):
    x, w = bk.asarray(np.zeros((1, 1, 3, 3))), bk.asarray(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"output_padding must be in \[0, stride 2\), got 2"):
        conv.conv_transpose2d_forward(x, w, None, 2, 1, 2)


@pytest.mark.parametrize("oracle,w_shape", [(naive_conv2d, (3, 2, 3, 3)),
                                            (naive_conv_transpose2d, (2, 3, 3, 3))])
def test_direct_loop_gradients_match_finite_differences(rng, oracle, w_shape):
    """The oracle's adjoint loops are themselves right: central differences of <dy, y>."""
    x, w = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal(w_shape)
    b = rng.standard_normal(3)
    dy = rng.standard_normal(oracle(x, w, b, 2, 1).shape)
    _, dx, dw, db = oracle(x, w, b, 2, 1, dy)
    eps = 1e-6
    for arr, grad in ((x, dx), (w, dw), (b, db)):
        for idx in [tuple(rng.integers(0, d) for d in arr.shape) for _ in range(6)]:
            saved = arr[idx]
            arr[idx] = saved + eps
            up = np.sum(dy * oracle(x, w, b, 2, 1))
            arr[idx] = saved - eps
            down = np.sum(dy * oracle(x, w, b, 2, 1))
            arr[idx] = saved
            assert abs((up - down) / (2 * eps) - grad[idx]) < 1e-7


def test_conv_and_transposed_conv_are_each_others_input_gradient(bk, rng):
    """conv2d's dx is conv_transpose2d(dy, w); conv_transpose2d's dx is conv2d(dy, w)."""
    x = bk.asarray(rng.standard_normal((2, 3, 8, 8)))
    w = bk.asarray(rng.standard_normal((4, 3, 4, 4)))
    y, cache = conv.conv2d_forward(x, w, None, 2, 1)
    dy = bk.asarray(rng.standard_normal(y.shape))
    dx, _, _ = conv.conv2d_backward(dy, cache)
    _assert_matches(bk, dx, bk.to_numpy(conv.conv_transpose2d_forward(dy, w, None, 2, 1)[0]))

    y_t, cache_t = conv.conv_transpose2d_forward(dy, w, None, 2, 1)
    dx_t, _, _ = conv.conv_transpose2d_backward(x, cache_t)
    _assert_matches(bk, dx_t, bk.to_numpy(conv.conv2d_forward(x, w, None, 2, 1)[0]))


@pytest.mark.parametrize("forward,backward,w_shape", [
    (conv.conv2d_forward, conv.conv2d_backward, (4, 3, 4, 4)),
    (conv.conv_transpose2d_forward, conv.conv_transpose2d_backward, (3, 4, 4, 4))])
def test_without_bias_or_weight_grad_those_grads_are_none(bk, rng, forward, backward, w_shape):
    x, w = bk.asarray(rng.standard_normal((1, 3, 6, 6))), bk.asarray(rng.standard_normal(w_shape))
    y, cache = forward(x, w, None, 2, 1)
    dx, dw, db = backward(bk.xp.ones_like(y), cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db is None
    y, cache = forward(x, w, bk.xp.zeros(4), 2, 1)
    dx2, dw, db = backward(bk.xp.ones_like(y), cache, need_weight_grad=False)
    assert dw is None and db is None
    _assert_matches(bk, dx2, bk.to_numpy(dx))
    _, dw_all, db_all = backward(bk.xp.ones_like(y), cache)
    no_dx, dw, db = backward(bk.xp.ones_like(y), cache, need_input_grad=False)
    assert no_dx is None
    _assert_matches(bk, dw, bk.to_numpy(dw_all))
    _assert_matches(bk, db, bk.to_numpy(db_all))


@pytest.mark.parametrize("forward,backward,w_shape", [
    (conv.conv2d_forward, conv.conv2d_backward, (5, 3, 4, 4)),
    (conv.conv_transpose2d_forward, conv.conv_transpose2d_backward, (3, 5, 4, 4))])
def test_float32_stays_float32_and_matches_float64(bk, rng, forward, backward, w_shape):
    x, w = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal(w_shape)
    b = rng.standard_normal(5)
    y64, cache64 = forward(bk.asarray(x), bk.asarray(w), bk.asarray(b), 2, 1)
    dy = rng.standard_normal(y64.shape)
    grads64 = backward(bk.asarray(dy), cache64)
    f32 = [bk.asarray(a, dtype=np.float32) for a in (x, w, b, dy)]
    y32, cache32 = forward(f32[0], f32[1], f32[2], 2, 1)
    grads32 = backward(f32[3], cache32)
    for got, ref in zip((y32,) + grads32, (y64,) + grads64):
        _assert_matches(bk, got, bk.to_numpy(ref), dtype=np.float32, tol=1e-4)


def test_results_stay_valid_after_later_calls_reuse_the_work_buffers(bk, rng):
    """Outputs and gradients are fresh arrays, never views of the reused scratch buffers."""
    def run_all(x, w):
        y, cache = conv.conv2d_forward(x, w, None, 1, 1)
        y_t, cache_t = conv.conv_transpose2d_forward(y, w, None, 2, 1)
        grads = conv.conv2d_backward(bk.xp.ones_like(y), cache)
        grads_t = conv.conv_transpose2d_backward(bk.xp.ones_like(y_t), cache_t)
        return [y, y_t] + [g for g in grads + grads_t if g is not None]

    x = bk.asarray(rng.standard_normal((1, 2, 6, 6)))
    w = bk.asarray(rng.standard_normal((2, 2, 3, 3)))
    results = run_all(x, w)
    saved = [bk.to_numpy(r).copy() for r in results]
    run_all(x + 1, -w)  # same shapes: every scratch buffer is reused and overwritten
    for result, before in zip(results, saved):
        np.testing.assert_array_equal(bk.to_numpy(result), before)


def test_conv2d_rejects_an_input_smaller_than_the_kernel(bk):
    with pytest.raises(ValueError, match="smaller than the kernel size 4"):
        conv.conv2d_forward(bk.xp.zeros((1, 1, 2, 2)), bk.xp.zeros((1, 1, 4, 4)), None, 1, 0)


def test_a_layer_of_model_size_matches_einsum(bk, rng):
    """Cin*k*k = 1024 and a batch of 4 (one GEMM per image in conv.py), too big for the loop
    oracle: y and dw against einsum over the windows of x, dx by the adjoint identity
    <conv(x), dy> = <x, dx>."""
    x, wt = rng.standard_normal((4, 64, 32, 32)), rng.standard_normal((3, 64, 4, 4))
    dy = rng.standard_normal((4, 3, 16, 16))
    x_pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(x_pad, (4, 4), axis=(2, 3))[:, :, ::2, ::2]
    y, cache = conv.conv2d_forward(bk.asarray(x), bk.asarray(wt), None, 2, 1)
    dx, dw, _ = conv.conv2d_backward(bk.asarray(dy), cache)
    _assert_matches(bk, y, np.einsum("ncijuv,ocuv->noij", windows, wt))
    _assert_matches(bk, dw, np.einsum("noij,ncijuv->ocuv", dy, windows))
    assert float(np.vdot(bk.to_numpy(y), dy)) == pytest.approx(
        float(np.vdot(x, bk.to_numpy(dx))), rel=1e-10)
