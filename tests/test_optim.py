import io

import numpy as np
import pytest

from p2p_cupy.nn import Parameter
from p2p_cupy.optim import Adam
from p2p_cupy.schedules import LinearDecaySchedule


def _params(bk, rng, shapes=((3, 4), (5,), ()), dtype=np.float64):
    return [Parameter(bk.asarray(rng.standard_normal(s), dtype=dtype)) for s in shapes]


def _set_grads(bk, params, rng):
    for p in params:
        p.grad = bk.asarray(rng.standard_normal(p.data.shape), dtype=p.data.dtype)


def test_adam_two_steps_match_hand_computed_values(bk):
    p = Parameter(bk.asarray(np.array([1.0])))
    opt = Adam([p], lr=0.1, betas=(0.5, 0.999), eps=1e-8)
    p.grad = bk.asarray(np.array([1.0]))
    opt.step()
    # m = 0.5, v = 0.001; m_hat = 1, v_hat = 1: p = 1 - 0.1 / (1 + eps)
    assert bk.to_numpy(p.data)[0] == pytest.approx(1 - 0.1 / (1 + 1e-8), abs=1e-12)
    p.grad = bk.asarray(np.array([-1.0]))
    opt.step()
    # m = 0.25 - 0.5 = -0.25, m_hat = -0.25 / 0.75 = -1/3; v_hat = 0.001999 / 0.001999 = 1
    assert bk.to_numpy(p.data)[0] == pytest.approx(1 - (0.1 - 0.1 / 3) / (1 + 1e-8), abs=1e-12)
    assert opt.t == 2


def _reference_adam(params, grads_per_step, lr, b1, b2, eps):
    """The textbook formula, in float64, with m_hat and v_hat written out."""
    p = [a.copy() for a in params]
    m = [np.zeros_like(a) for a in p]
    v = [np.zeros_like(a) for a in p]
    for t, grads in enumerate(grads_per_step, start=1):
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat, v_hat = m[i] / (1 - b1 ** t), v[i] / (1 - b2 ** t)
            p[i] = p[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def test_adam_matches_the_reference_formula_over_several_steps(bk, rng):
    # (300, 250) spans two chunks of the NumPy update; the Fortran-ordered one takes the
    # whole-array path
    params = _params(bk, rng, shapes=((3, 4), (5,), (), (300, 250)))
    params.append(Parameter(bk.asarray(np.asfortranarray(rng.standard_normal((4, 6))))))
    start = [bk.to_numpy(p.data).copy() for p in params]
    opt = Adam(params, lr=1e-2, betas=(0.8, 0.99), eps=1e-6)
    history = []
    for _ in range(7):
        _set_grads(bk, params, rng)
        history.append([bk.to_numpy(p.grad).copy() for p in params])
        opt.step()
    expected = _reference_adam(start, history, 1e-2, 0.8, 0.99, 1e-6)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(bk.to_numpy(p.data), e, rtol=1e-12, atol=1e-14)


def test_adam_skips_parameters_without_gradient_and_zero_grad_clears(bk, rng):
    a, b = _params(bk, rng, shapes=((2,), (3,)))
    b_before = bk.to_numpy(b.data).copy()
    opt = Adam([a, b])
    a.grad = bk.asarray(np.ones(2))
    opt.step()
    np.testing.assert_array_equal(bk.to_numpy(b.data), b_before)
    opt.zero_grad()
    assert not bk.to_numpy(a.grad).any() and not bk.to_numpy(b.grad).any()


def test_adam_lr_can_be_changed_between_steps(bk):
    p = Parameter(bk.asarray(np.array([0.0])))
    opt = Adam([p], lr=0.1)
    p.grad = bk.asarray(np.array([2.0]))
    opt.lr = 0.0
    opt.step()
    assert bk.to_numpy(p.data)[0] == 0.0
    opt.lr = 0.5
    opt.step()
    assert bk.to_numpy(p.data)[0] == pytest.approx(-0.5, rel=1e-6)


def test_adam_state_dict_round_trip_through_npz_continues_identically(bk, rng):
    params = _params(bk, rng, dtype=np.float32)
    opt = Adam(params, lr=1e-3)
    for _ in range(3):
        _set_grads(bk, params, rng)
        opt.step()
    buf = io.BytesIO()
    np.savez(buf, **opt.state_dict())
    buf.seek(0)
    loaded = dict(np.load(buf, allow_pickle=False))

    twins = [Parameter(bk.asarray(bk.to_numpy(p.data).copy())) for p in params]
    twin_opt = Adam(twins, lr=0.5, betas=(0.9, 0.9)).load_state_dict(loaded)
    assert (twin_opt.t, twin_opt.lr, twin_opt.betas) == (3, opt.lr, opt.betas)
    for _ in range(3):
        _set_grads(bk, params, rng)
        for p, q in zip(params, twins):
            q.grad = p.grad.copy()
        opt.step()
        twin_opt.step()
    for p, q in zip(params, twins):
        np.testing.assert_array_equal(bk.to_numpy(p.data), bk.to_numpy(q.data))


def test_adam_load_state_dict_rejects_other_shapes(bk, rng):
    state = Adam(_params(bk, rng, shapes=((2, 2),))).state_dict()
    with pytest.raises(ValueError, match=r"m\.0 has shape \(2, 2\).*\(3,\)"):
        Adam(_params(bk, rng, shapes=((3,),))).load_state_dict(state)
    with pytest.raises(ValueError, match="moments for 1 parameters, this optimizer has 2"):
        Adam(_params(bk, rng, shapes=((2, 2), (1,)))).load_state_dict(state)


def test_adam_matches_torch_when_installed(rng):
    try:
        import torch
    except (ImportError, OSError) as e:     # absent, or a broken install
        pytest.skip(f"torch not usable: {e}")
    from p2p_cupy import backend
    bk = backend.get_backend("numpy")
    params = _params(bk, rng)
    theirs = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    opt = Adam(params, lr=2e-2, betas=(0.5, 0.999), eps=1e-8)
    torch_opt = torch.optim.Adam(theirs, lr=2e-2, betas=(0.5, 0.999), eps=1e-8)
    for _ in range(5):
        _set_grads(bk, params, rng)
        for p, t in zip(params, theirs):
            t.grad = torch.tensor(p.grad.copy())
        opt.step()
        torch_opt.step()
    for p, t in zip(params, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_linear_schedule_values_at_the_boundaries():
    s = LinearDecaySchedule(100, 100)
    assert s.factor(1) == 1.0 and s.factor(100) == 1.0   # n_epochs at the full rate
    assert s.factor(101) == pytest.approx(100 / 101)      # decay starts here
    assert s.factor(150) == pytest.approx(51 / 101)
    assert s.factor(200) == pytest.approx(1 / 101)        # the last epoch
    assert LinearDecaySchedule(3, 0).factor(3) == 1.0


def test_linear_schedule_reproduces_the_reference_loop_also_when_resumed():
    for epoch_count in (1, 7, 12):
        s = LinearDecaySchedule(10, 5, epoch_count=epoch_count)
        k = 0                               # LambdaLR's counter, fresh at (re)start
        for epoch in range(epoch_count, 10 + 5 + 1):
            assert s.factor(epoch) == s.lambda_rule(k)
            assert s.factor(epoch) == LinearDecaySchedule(10, 5).factor(epoch)
            k += 1                          # scheduler.step() at the end of the epoch


def test_linear_schedule_state_dict_round_trip_and_bad_values():
    s = LinearDecaySchedule(1, 1).load_state_dict(LinearDecaySchedule(10, 5, 3).state_dict())
    assert (s.n_epochs, s.n_epochs_decay, s.epoch_count) == (10, 5, 3)
    with pytest.raises(ValueError, match="LinearDecaySchedule"):
        LinearDecaySchedule(10, -1)


def test_the_step_count_and_lr_the_update_uses_are_the_devices(bk, rng):
    """Adam reads t, lr and the bias corrections from `hyper` on the device: scribbling
    over the host copies changes nothing; setting lr writes the device's copy."""
    params = _params(bk, rng)
    twins = [Parameter(p.data.copy()) for p in params]
    opt, twin_opt = Adam(params, lr=1e-2), Adam(twins, lr=1e-2)
    for step in range(3):
        _set_grads(bk, params, rng)
        for p, q in zip(params, twins):
            q.grad = p.grad.copy()
        opt.t, opt._lr = 1000 + step, 5.0            # host copies only
        opt.step()
        twin_opt.step()
    for p, q in zip(params, twins):
        np.testing.assert_array_equal(bk.to_numpy(p.data), bk.to_numpy(q.data))
    assert bk.to_numpy(opt.hyper)[0] == 3 and opt.state_dict()["step"] == 3
    opt.lr = 0.25
    assert bk.to_numpy(opt.hyper)[1] == 0.25 and float(opt.state_dict()["lr"]) == 0.25


def test_one_optimizer_step_is_two_launches_and_zero_grad_one_fill():
    """On the kernel backends: adam_advance (t, the bias corrections) and one update over
    the flat buffers, whatever the number of parameters; zero_grad is one fill."""
    from p2p_cupy.inspection.kernels import _RecordingKernels
    from p2p_cupy.inspection.launch_count import counted_zeros, counting, not_counted
    with counting(_RecordingKernels()) as counter:
        with not_counted():
            params = [Parameter(counted_zeros(s)) for s in ((3, 4), (5,), (7, 2, 2))]
            opt = Adam(params)
        opt.zero_grad()
        opt.step()
    assert counter.breakdown()["by_name"] == {"fill/fill": 1, "ours/adam/adam_advance_f64": 1,
                                              "ours/adam/adam_fwd_f32": 1}
