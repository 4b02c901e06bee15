"""Reference pix2pix names -> ours: known names of the reference implementation, the
architecture detected from weights, and clear errors for checkpoints that don't fit.
(That the names also mean the same layers is shown by tests/interop/test_torch_parity.py.)"""
import numpy as np
import pytest

from p2p_cupy.interop import pix2pix_names as names
from p2p_cupy.models import define_D, define_G


def reference_state(model, prefix=""):
    """Our weights under the reference's names (+ its BN counters), as torch saves them."""
    state = {}
    for key, value in model.state_dict().items():
        ref = names.reference_key(model, key)
        if ref is not None:
            state[prefix + ref] = value
            if ref.endswith("running_var"):
                state[prefix + ref.replace("running_var", "num_batches_tracked")] = np.array(0)
    return state


def test_unet_256_names_are_the_reference_implementations():
    state = reference_state(define_G("unet_256", ngf=4))
    innermost = "model.model.1" + ".model.3" * 6 + ".model."
    for key in ["model.model.0.weight", "model.model.3.weight", "model.model.3.bias",
                "model.model.1.model.1.weight", "model.model.1.model.2.running_mean",
                "model.model.1.model.5.weight", "model.model.1.model.6.bias",
                innermost + "1.weight", innermost + "3.weight", innermost + "4.running_var"]:
        assert key in state, key
    assert not any(k.startswith(innermost + "2.") for k in state)    # no norm at the bottom
    assert len([k for k in state if not k.endswith("num_batches_tracked")]) == \
        len(define_G("unet_256", ngf=4).state_dict()) - 3            # less 3 dropout steps


@pytest.mark.parametrize("netG,norm", [("unet_256", "batch"), ("unet_128", "instance"),
                                       ("unet_32", "none")])
def test_generator_architecture_is_detected_and_weights_land_in_place(netG, norm):
    G = define_G(netG, ngf=8, norm=norm, seed=3)
    state = reference_state(G, prefix="module.")                    # DataParallel's prefix
    assert names.detect_generator(state) == {"num_downs": G.num_downs, "ngf": 8, "norm": norm,
                                             "input_nc": 3, "output_nc": 3}
    rebuilt = names.build_generator(state)
    for key, value in G.state_dict().items():
        np.testing.assert_array_equal(rebuilt.state_dict()[key], value)


@pytest.mark.parametrize("netD,n_layers,norm", [("n_layers", 1, "batch"), ("basic", 3, "none"),
                                                ("n_layers", 5, "instance"),
                                                ("pixel", 3, "batch")])
def test_discriminator_architecture_is_detected(netD, n_layers, norm):
    D = define_D(netD, ndf=8, n_layers_D=n_layers, norm=norm, seed=2)
    state = reference_state(D)
    first = "net.0.weight" if netD == "pixel" else "model.0.weight"
    assert first in state
    arch = names.detect_discriminator(state)
    assert (arch["ndf"], arch["norm"]) == (8, norm)
    assert arch["netD"] == ("pixel" if netD == "pixel" else "n_layers")
    if netD != "pixel":
        assert arch["n_layers_D"] == n_layers
        assert f"model.{3 * n_layers + 2}.weight" in state                # the last conv
    rebuilt = names.build_discriminator(state)
    for key, value in D.state_dict().items():
        np.testing.assert_array_equal(rebuilt.state_dict()[key], value)


def test_missing_unexpected_and_misshapen_keys_are_all_reported():
    G = define_G("unet_128", ngf=4)
    state = reference_state(G)
    del state["model.model.1.model.1.weight"]
    state["model.model.9.weight"] = np.zeros(3, np.float32)
    state["model.model.3.bias"] = np.zeros(5, np.float32)
    with pytest.raises(ValueError) as err:
        names.to_our_state(G, state, source="latest_net_G.pth")
    message = str(err.value)
    assert message.startswith("latest_net_G.pth: does not fit UNetGenerator")
    assert "missing keys: model.model.1.model.1.weight" in message
    assert "unexpected keys: model.model.9.weight" in message
    assert "model.model.3.bias (5,) (expected (3,) for dec1.1.bias)" in message


def test_a_state_dict_of_something_else_is_not_mistaken_for_pix2pix():
    with pytest.raises(ValueError, match="x.pth: neither a pix2pix UnetGenerator nor a disc"):
        names.detect_discriminator({"fc.weight": np.zeros((2, 2))}, source="x.pth")


@pytest.mark.parametrize("n_blocks,norm,use_dropout", [(9, "batch", True), (6, "instance", False),
                                                      (2, "none", True), (0, "batch", False)])
def test_resnet_architecture_dropout_included_is_detected_and_weights_land_in_place(
        n_blocks, norm, use_dropout):
    G = define_G("resnet_9blocks", ngf=2, norm=norm, use_dropout=use_dropout,
                 n_blocks=n_blocks, seed=4)
    state = reference_state(G, prefix="module.")
    assert names.is_generator_state(state) and names.is_resnet_state(state)
    assert names.detect_resnet_generator(state) == {
        "n_blocks": n_blocks, "ngf": 2, "norm": norm, "use_dropout": use_dropout and n_blocks > 0,
        "input_nc": 3, "output_nc": 3}
    rebuilt = names.build_generator(state)
    for key, value in G.state_dict().items():
        np.testing.assert_array_equal(rebuilt.state_dict()[key], value)


def test_a_resnet_checkpoint_missing_its_last_conv_is_refused_by_name():
    state = reference_state(define_G("resnet_6blocks", ngf=2))
    del state["model.23.weight"]
    with pytest.raises(ValueError, match=r"G.pth: a ResnetGenerator with 6 blocks has its last "
                                         r"conv at model.23.weight, which is missing"):
        names.detect_resnet_generator(state, "G.pth")
    assert not names.is_resnet_state(reference_state(define_D("basic", ndf=4)))
