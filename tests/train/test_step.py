import numpy as np
import pytest

from p2p_cupy.models import define_D, define_G
from p2p_cupy.optim import Adam
from p2p_cupy.train.step import train_step

# B = a fixed colour transform of A (mix the channels, then squash into [-1, 1]).
COLOR_MIX = np.array([[0.2, 0.7, 0.1], [-0.6, 0.1, 0.5], [0.3, -0.3, 0.9]], np.float32)


def _pairs(rng, n, size=32):
    """Images of a few coloured rectangles on a coloured background, and their B."""
    A = np.empty((n, 3, size, size), np.float32)
    for img in A:
        img[:] = rng.uniform(-1, 1, (3, 1, 1))
        for _ in range(4):
            y, x = rng.integers(0, size - 4, 2)
            h, w = rng.integers(4, size // 2, 2)
            img[:, y:y + h, x:x + w] = rng.uniform(-1, 1, (3, 1, 1))
    B = np.tanh(np.einsum("oc,nchw->nohw", COLOR_MIX, A) * 1.5).astype(np.float32)
    return A, B


def test_training_learns_a_colour_mapping_on_held_out_images():
    rng = np.random.default_rng(0)
    train_A, train_B = _pairs(rng, 64)
    test_A, test_B = _pairs(rng, 8)
    G = define_G("unet_32", ngf=8, num_downs=5, seed=0)
    D = define_D("basic", ndf=8, n_layers_D=3, seed=1)
    opt_G, opt_D = Adam(G.parameters(), lr=2e-4), Adam(D.parameters(), lr=2e-4)

    def held_out_l1():
        return float(np.mean(np.abs(G.forward(test_A) - test_B)))

    start = held_out_l1()
    for step in range(500):
        idx = rng.integers(0, len(train_A), 4)
        losses, _ = train_step(G, D, opt_G, opt_D, train_A[idx], train_B[idx])
    end = held_out_l1()
    assert np.isfinite(float(losses["G_GAN"])) and np.isfinite(float(losses["D_real"]))
    assert end < 0.4 * start, (start, end)


def test_one_step_updates_both_networks_and_returns_backend_losses(bk):
    G = define_G("unet_32", ngf=4, num_downs=5)
    D = define_D("basic", ndf=4)
    G.to_backend(bk), D.to_backend(bk)
    opt_G, opt_D = Adam(G.parameters()), Adam(D.parameters())
    g0, d0 = G.state_dict(), D.state_dict()
    A, B = (bk.asarray(a) for a in _pairs(np.random.default_rng(1), 2))
    losses, fake_B = train_step(G, D, opt_G, opt_D, A, B, gan_mode="lsgan")
    assert set(losses) == {"G_GAN", "G_L1", "D_real", "D_fake"}
    assert all(isinstance(v, bk.xp.ndarray) and v.shape == () for v in losses.values())
    assert fake_B.shape == B.shape
    g1, d1 = G.state_dict(), D.state_dict()
    assert not np.array_equal(g0["enc1.0.weight"], g1["enc1.0.weight"])
    assert not np.array_equal(d0["0.weight"], d1["0.weight"])


def _tiny(input_nc_D=6):
    G = define_G("unet_32", ngf=4, num_downs=5, seed=0)
    D = define_D("basic", input_nc=input_nc_D, ndf=4, seed=1)
    return G, D, Adam(G.parameters()), Adam(D.parameters())


def test_l1_alone_trains_g_and_leaves_d_untouched():
    G, D, opt_G, opt_D = _tiny()
    A, B = _pairs(np.random.default_rng(2), 2)
    g0, d0 = G.state_dict(), D.state_dict()
    losses, _ = train_step(G, D, opt_G, opt_D, A, B, lambda_gan=0.0)
    assert float(losses["G_L1"]) > 0
    assert all(float(losses[k]) == 0 for k in ("G_GAN", "D_real", "D_fake"))
    assert opt_D.t == 0 and all(np.array_equal(d0[k], v) for k, v in D.state_dict().items())
    assert not np.array_equal(g0["enc1.0.weight"], G.state_dict()["enc1.0.weight"])


def test_gan_weights_change_g_s_update_and_an_unconditional_d_sees_b_alone():
    A, B = _pairs(np.random.default_rng(3), 2)
    updates = {}
    for name, input_nc_D, kw in (("l1+cgan", 6, {}), ("cgan", 6, {"lambda_l1": 0.0}),
                                 ("l1+gan", 3, {"conditional_D": False})):
        G, D, opt_G, opt_D = _tiny(input_nc_D)
        losses, _ = train_step(G, D, opt_G, opt_D, A, B, **kw)
        assert all(np.isfinite(float(v)) for v in losses.values())
        assert opt_D.t == 1                      # D trained in every GAN configuration
        updates[name] = G.state_dict()["enc1.0.weight"]
    assert not np.allclose(updates["l1+cgan"], updates["cgan"])
    assert not np.allclose(updates["l1+cgan"], updates["l1+gan"])


@pytest.mark.parametrize("gan_mode", ["vanilla", "lsgan", "wgangp"])
@pytest.mark.parametrize("ablation", [{"lambda_gan": 0.0}, {"lambda_l1": 0.0},
                                      {"conditional_D": False}])
def test_every_gan_mode_with_every_ablation_reports_the_mode_s_losses(gan_mode, ablation):
    """The loss ablations of the quality table combine with every GAN loss: the step
    reports the loss names the run's log has columns for (wgangp's D_GP too)."""
    from p2p_cupy.train.report import loss_names
    G, D, opt_G, opt_D = _tiny(3 if ablation == {"conditional_D": False} else 6)
    A, B = _pairs(np.random.default_rng(4), 2)
    losses, _ = train_step(G, D, opt_G, opt_D, A, B, gan_mode, gp_alpha=np.full(2, 0.5),
                           **ablation)
    assert tuple(losses) == loss_names(gan_mode)
    assert all(np.isfinite(float(v)) for v in losses.values())
