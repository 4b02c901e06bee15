import numpy as np
import pytest

from p2p_cupy.gradcheck.cases import run_case
from p2p_cupy.models import unet as unet_module


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("case", ["unet", "resnet", "patchgan"])
def test_whole_network_gradients_match_finite_differences_for_several_seeds(case, seed):
    rows = run_case(case, np.random.default_rng(seed))
    assert [r.what for r in rows] == ["all arrays (2), 3 random directions"]
    assert rows[0].passed, rows


def test_the_unet_check_catches_a_skip_connection_that_drops_its_gradient(monkeypatch):
    real = unet_module.concat_backward

    def skip_gradient_lost(dout, cache):
        dskip, dup = real(dout, cache)
        return dskip * 0, dup

    monkeypatch.setattr(unet_module, "concat_backward", skip_gradient_lost)
    rows = run_case("unet", np.random.default_rng(0))
    assert not rows[0].passed and rows[0].max_rel_error > 1e-2
