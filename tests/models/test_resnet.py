"""The ResNet generators (resnet_9blocks, resnet_6blocks): the reference's parameter counts,
its layer layout, shapes, the residual gradient and the input checks."""
import numpy as np
import pytest

from p2p_cupy import nn
from p2p_cupy.gradcheck.cases import run_case
from p2p_cupy.models import define_G
from p2p_cupy.models import resnet as resnet_module

# The reference implementation's counts at ngf 64, 3 -> 3 channels (the numbers).
REFERENCE_COUNTS = {("resnet_9blocks", "batch"): 11_383_427,
                    ("resnet_9blocks", "instance"): 11_378_179,
                    ("resnet_6blocks", "batch"): 7_841_411,
                    ("resnet_6blocks", "instance"): 7_837_699}


@pytest.mark.parametrize("netG,norm", list(REFERENCE_COUNTS))
def test_parameter_counts_equal_the_reference_implementation(netG, norm):
    """(The PyTorch oracle's own count and names: tests/interop/test_torch_parity.py.)"""
    assert define_G(netG, norm=norm).num_parameters() == REFERENCE_COUNTS[(netG, norm)]


def test_layout_follows_the_reference_indices():
    G = define_G("resnet_6blocks", ngf=4)
    model = list(G.model)
    assert len(model) == 10 + 6 + 9 and isinstance(model[0], nn.ReflectionPad2d)
    assert model[1].kernel_size == 7 and model[1].bias is None            # batch norm: no bias
    assert [model[i].stride for i in (4, 7)] == [2, 2]
    assert all(isinstance(model[i], resnet_module.ResnetBlock) for i in range(10, 16))
    assert [model[i].output_padding for i in (16, 19)] == [1, 1]
    assert model[23].bias is not None and isinstance(model[24], nn.Tanh)   # last conv: bias
    block = list(model[10].conv_block)
    assert [type(layer).__name__ for layer in block] == [
        "ReflectionPad2d", "Conv2d", "BatchNorm2d", "ReLU", "Dropout", "ReflectionPad2d",
        "Conv2d", "BatchNorm2d"]
    no_dropout = define_G("resnet_6blocks", ngf=4, norm="none", use_dropout=False)
    assert [type(layer).__name__ for layer in no_dropout.model[10].conv_block] == [
        "ReflectionPad2d", "Conv2d", "Identity", "ReLU", "ReflectionPad2d", "Conv2d",
        "Identity"]


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_forward_and_backward_keep_the_image_size(bk, norm):
    G = define_G("resnet_9blocks", ngf=2, n_blocks=2, norm=norm)
    x = bk.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 3, 12, 20)).astype(np.float32))
    y = G.forward(x)
    assert y.shape == x.shape and float(abs(bk.to_numpy(y)).max()) <= 1.0
    G.zero_grad()
    assert G.backward(bk.xp.ones_like(y)).shape == x.shape
    assert all(float(abs(bk.to_numpy(p.grad)).sum()) > 0 for p in G.parameters())


def test_backward_without_input_grad_gives_the_same_parameter_grads(
        bk, check_backward_without_input_grad):
    x = bk.asarray(np.random.default_rng(0).uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32))
    check_backward_without_input_grad(
        lambda: define_G("resnet_6blocks", ngf=2, n_blocks=1, use_dropout=False), x)


def test_the_resnet_check_catches_a_residual_that_drops_its_skip_gradient(monkeypatch):
    def without_skip(self, dy):
        return self.conv_block.backward(dy)
    monkeypatch.setattr(resnet_module.ResnetBlock, "backward", without_skip)
    rows = run_case("resnet", np.random.default_rng(0))
    assert not rows[0].passed and rows[0].max_rel_error > 1e-2


@pytest.mark.parametrize("shape", [(1, 3, 18, 16), (1, 3, 4, 4), (1, 1, 16, 16)])
def test_input_the_generator_cannot_take_is_refused(shape):
    G = define_G("resnet_6blocks", ngf=2, n_blocks=1)
    with pytest.raises(ValueError, match="ResnetGenerator: "):
        G.forward(np.zeros(shape, np.float32))


def test_n_blocks_is_refused_for_a_unet():
    with pytest.raises(ValueError, match="n_blocks applies to the ResNet generators"):
        define_G("unet_256", n_blocks=3)
