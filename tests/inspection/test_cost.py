"""p2p inspect model reproduces the cost model (docs/DESIGN.md, "The cost model") from the
model objects."""
import json

import pytest
from click.testing import CliRunner

from p2p_cupy.cli.main import main
from p2p_cupy.inspection.cost import model_cost
from p2p_cupy.models import define_D, define_G


@pytest.fixture(scope="module")
def default_cost():
    return model_cost(define_G("unet_256"), define_D("basic"), size=256, batch_size=1)


def test_default_cost_matches_design_numbers(default_cost):
    g_rows, d_rows, t = default_cost
    assert t["G_params"] == 54_413_955
    assert t["D_params"] == 2_768_705
    assert round(t["G_forward_flops"] / 1e9, 3) == 12.096
    assert round(t["D_forward_flops"] / 1e9, 3) == 6.394
    assert round(t["iteration_flops"] / 1e9, 2) == 86.94
    assert t["D_receptive_field"] == 70
    assert t["D_output_shape"] == (1, 1, 30, 30)
    parts = {k: round(v / 1e9, 2) for k, v in t["iteration_parts"].items()}
    assert parts == {"G forward": 12.10, "D forward x3": 19.18, "D-step backward": 25.17,
                     "D input grads (G step)": 6.39, "G backward": 24.09}


def test_rows_are_per_layer_and_sum_to_totals(default_cost):
    g_rows, d_rows, t = default_cost
    assert sum(r.params for r in g_rows) == t["G_params"]
    convs = [r for r in g_rows if r.op in ("Conv2d", "ConvTranspose2d")]
    assert len(convs) == 16  # 8 down, 8 up
    down2 = convs[1]
    assert (down2.in_shape, down2.out_shape) == ((1, 64, 128, 128), (1, 128, 64, 64))
    assert round(down2.flops / 1e9, 3) == 1.074
    assert g_rows[-1].op == "Tanh" and g_rows[-1].out_shape == (1, 3, 256, 256)


@pytest.mark.parametrize("n_layers,rf", [(1, 16), (2, 34), (3, 70), (4, 142), (5, 286)])
def test_patchgan_receptive_field(n_layers, rf):
    G = define_G("unet_256", ngf=2)
    _, d_rows, t = model_cost(G, define_D("n_layers", ndf=2, n_layers_D=n_layers), size=256)
    assert t["D_receptive_field"] == rf
    assert define_D("n_layers", ndf=2, n_layers_D=n_layers).receptive_field == rf


def test_inspect_model_command_json():
    result = CliRunner().invoke(main, ["inspect", "model", "--netG", "unet_128", "--ngf", "8",
                                       "--ndf", "8", "--size", "128", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["totals"]["D_receptive_field"] == 70
    assert data["G"][-1]["out_shape"] == [1, 3, 128, 128]


def test_inspect_model_command_table():
    result = CliRunner().invoke(main, ["inspect", "model", "--ngf", "4", "--ndf", "4"])
    assert result.exit_code == 0, result.output
    assert "one training iteration" in result.output and "enc2.0" in result.output
