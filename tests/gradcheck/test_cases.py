import numpy as np
import pytest

from p2p_cupy.gradcheck.cases import CASES, run_case


@pytest.mark.parametrize("name", list(CASES))
def test_every_registered_case_passes(bk, name):
    rows = run_case(name, np.random.default_rng(0))
    assert rows and all(r.passed for r in rows), rows


def test_unknown_case_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown case 'nope'; choose from conv2d, "):
        run_case("nope", np.random.default_rng(0))
