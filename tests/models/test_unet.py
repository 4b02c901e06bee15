import numpy as np
import pytest

from p2p_cupy import backend
from p2p_cupy.models import define_G
from p2p_cupy.models.unet import UNetGenerator


def test_default_unet_256_has_the_reference_parameter_count():
    assert define_G("unet_256").num_parameters() == 54_413_955


def test_unet_128_is_one_level_less_and_encoder_decoder_has_no_skip_channels():
    g128 = define_G("unet_128", ngf=4)
    assert g128.num_downs == 7 and hasattr(g128, "enc7") and not hasattr(g128, "enc8")
    ed = define_G("encoder_decoder_128", ngf=4)
    # Without skips each transposed conv (but the innermost) sees half the channels.
    assert ed.dec2[1].weight.data.shape == (8, 4, 4, 4)
    assert g128.dec2[1].weight.data.shape == (16, 4, 4, 4)


def test_dropout_sits_on_the_three_levels_just_outside_the_innermost():
    g = define_G("unet_256", ngf=4)
    with_dropout = sorted(int(name[3:]) for name, m in g._modules.items()
                          if name.startswith("dec") and any(
                              type(layer).__name__ == "Dropout" for layer in m))
    assert with_dropout == [5, 6, 7]
    assert define_G("unet_256", ngf=4, use_dropout=False).num_parameters() == g.num_parameters()


@pytest.mark.parametrize("netG", ["unet_256", "encoder_decoder_256"])
def test_small_unet_runs_forward_and_backward_with_output_in_tanh_range(bk, netG):
    G = define_G(netG, ngf=4, num_downs=5)
    x = bk.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32))
    y = G.forward(x)
    assert y.shape == (2, 3, 32, 32) and float(abs(bk.to_numpy(y)).max()) <= 1.0
    G.zero_grad()
    dx = G.backward(bk.xp.ones_like(y))
    assert dx.shape == x.shape
    assert all(float(abs(bk.to_numpy(p.grad)).sum()) > 0 for p in G.parameters())


def test_backward_without_input_grad_gives_the_same_parameter_grads(
        bk, check_backward_without_input_grad):
    """The G step's backward: real_A is data, so G skips only its outermost dx."""
    x = bk.asarray(np.random.default_rng(0).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))
    check_backward_without_input_grad(
        lambda: define_G("unet_256", ngf=4, num_downs=5, use_dropout=False), x)


def test_unet_128_runs_on_128_pixels():
    G = define_G("unet_128", ngf=2)
    x = np.random.default_rng(2).uniform(-1, 1, (1, 3, 128, 128)).astype(np.float32)
    y = G.forward(x)
    assert y.shape == x.shape and G.backward(np.ones_like(y)).shape == x.shape


def test_instance_norm_and_no_norm_variants_run(bk):
    x = bk.asarray(np.random.default_rng(1).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))
    for norm in ("instance", "none"):
        G = define_G("unet_256", ngf=4, num_downs=5, norm=norm)
        assert G.forward(x).shape == x.shape
        assert G.backward(bk.xp.ones_like(x)).shape == x.shape


def test_the_same_seed_gives_the_same_weights():
    a, b = define_G(ngf=4, num_downs=5, seed=3), define_G(ngf=4, num_downs=5, seed=3)
    c = define_G(ngf=4, num_downs=5, seed=4)
    for (name, pa), (_, pb), (_, pc) in zip(a.state_dict().items(), b.state_dict().items(),
                                            c.state_dict().items()):
        np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(a.state_dict()["enc1.0.weight"], c.state_dict()["enc1.0.weight"])


def test_input_size_that_is_not_a_multiple_of_2_to_the_num_downs_is_refused():
    G = define_G(ngf=4, num_downs=5)
    with pytest.raises(ValueError, match="multiples of 32"):
        G.forward(np.zeros((1, 3, 48, 32), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        G.forward(np.zeros((1, 1, 32, 32), np.float32))


def test_unknown_options_are_refused_by_name():
    with pytest.raises(ValueError, match="netG"):
        define_G("resnet_3blocks")
    with pytest.raises(ValueError, match="norm"):
        UNetGenerator(ngf=4, num_downs=5, norm="group")
    with pytest.raises(ValueError, match="num_downs"):
        UNetGenerator(num_downs=1)
    assert backend.current().name == "numpy"
