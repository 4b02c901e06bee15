import numpy as np
import pytest

from p2p_cupy.models import define_D
from p2p_cupy.models.patchgan import PatchGAN


def test_default_basic_patchgan_has_the_reference_parameter_count():
    assert define_D("basic").num_parameters() == 2_768_705


@pytest.mark.parametrize("n_layers,field", [(1, 16), (2, 34), (3, 70), (4, 142), (5, 286)])
def test_receptive_field_of_each_depth(n_layers, field):
    assert PatchGAN(ndf=4, n_layers=n_layers).receptive_field == field


def test_basic_patchgan_maps_256_pixels_to_30x30_logits():
    D = define_D("basic", ndf=2)
    assert D.forward(np.zeros((1, 6, 256, 256), np.float32)).shape == (1, 1, 30, 30)


@pytest.mark.parametrize("netD", ["basic", "pixel"])
def test_small_discriminators_run_forward_and_backward(bk, netD):
    D = define_D(netD, ndf=4)
    x = bk.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 6, 32, 32)).astype(np.float32))
    logits = D.forward(x)
    assert logits.shape == ((2, 1, 2, 2) if netD == "basic" else (2, 1, 32, 32))
    D.zero_grad()
    dx = D.backward(bk.xp.ones_like(logits))
    assert dx.shape == x.shape
    assert all(float(abs(bk.to_numpy(p.grad)).sum()) > 0 for p in D.parameters())


def test_frozen_discriminator_passes_input_grads_but_keeps_parameter_grads():
    D = define_D("basic", ndf=4)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 6, 32, 32)).astype(np.float32)
    D.zero_grad()
    D.freeze(True)
    dx = D.backward(np.ones_like(D.forward(x)))
    assert float(np.abs(dx).sum()) > 0
    assert all(float(np.abs(p.grad).sum()) == 0 for p in D.parameters())


def test_bad_options_and_inputs_are_refused():
    with pytest.raises(ValueError, match="n_layers"):
        PatchGAN(n_layers=6)
    with pytest.raises(ValueError, match="netD"):
        define_D("multiscale")
    with pytest.raises(ValueError, match="6"):
        define_D("basic", ndf=4).forward(np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(ValueError, match="16x16 pixels is too small, it needs at least 24x24"):
        define_D("basic", ndf=4).forward(np.zeros((1, 6, 16, 16), np.float32))
    assert define_D("basic", ndf=4).forward(np.zeros((2, 6, 24, 24), np.float32)).shape[2:] \
        == (1, 1)
