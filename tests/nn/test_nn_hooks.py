"""Module.add_forward_hook: watch a module's forwards without changing the module."""
import numpy as np

from p2p_cupy import nn


def test_forward_hooks_see_every_forward_and_leave_no_trace(bk):
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=np.random.default_rng(0)),
                          nn.ReLU())
    x = bk.asarray(np.random.default_rng(1).standard_normal((1, 2, 5, 5)).astype(np.float32))
    plain = bk.to_numpy(model.forward(x))
    seen = []
    conv = model[0]
    first = conv.add_forward_hook(lambda m, x_in, y: seen.append(("first", m, x_in, y)))
    second = conv.add_forward_hook(lambda m, x_in, y: seen.append(("second", m, x_in, y)))
    watched = bk.to_numpy(model.forward(x))       # the hook fires inside Sequential too
    np.testing.assert_array_equal(watched, plain)
    assert [s[0] for s in seen] == ["first", "second"]
    assert seen[0][1] is conv and seen[0][2] is x and seen[0][3].shape == (1, 3, 5, 5)
    first.remove()
    model.forward(x)
    assert [s[0] for s in seen] == ["first", "second", "second"]
    second.remove()
    assert "forward" not in conv.__dict__            # the class's method again
    model.forward(x)
    assert len(seen) == 3
    assert [name for name, _ in model.named_leaves()] == ["0", "1"]
