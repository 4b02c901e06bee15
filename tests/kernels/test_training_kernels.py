"""Three pix2pix training steps (small U-Net + PatchGAN, batch norm, dropout, BCE + L1,
Adam) through the kernels on emu end with the same weights as on numpy."""
import numpy as np
import pytest

from p2p_cupy import backend
from p2p_cupy.models import define_D, define_G
from p2p_cupy.optim import Adam
from p2p_cupy.train.step import train_step


def _three_steps(bk_name):
    try:
        bk = backend.get_backend(bk_name)
    except backend.BackendUnavailable as e:
        pytest.skip(str(e))
    rng = np.random.default_rng(0)
    with backend.using(bk):
        G = define_G("unet_32", ngf=4, num_downs=5, seed=0)
        D = define_D("basic", ndf=4, n_layers_D=3, seed=1)
        opt_G, opt_D = Adam(G.parameters()), Adam(D.parameters())
        for _ in range(3):
            a, b = (bk.asarray(rng.uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32))
                    for _ in range(2))
            losses, _ = train_step(G, D, opt_G, opt_D, a, b)
        weights = {f"G.{k}": bk.to_numpy(p.data) for k, p in G.named_parameters()}
        weights.update({f"D.{k}": bk.to_numpy(p.data) for k, p in D.named_parameters()})
        return weights, {k: float(bk.to_numpy(v)) for k, v in losses.items()}


@pytest.mark.parametrize("device", ["emu", "cuda"])
def test_three_training_steps_match_numpy(device):
    ref_weights, ref_losses = _three_steps("numpy")
    weights, losses = _three_steps(device)
    for name, value in ref_losses.items():
        np.testing.assert_allclose(losses[name], value, rtol=1e-4, err_msg=name)
    for name, value in ref_weights.items():
        # Adam's first steps move each weight by ~lr whatever the gradient's size, so a
        # float32 rounding difference in a tiny gradient can flip a step: compare to lr
        np.testing.assert_allclose(weights[name], value, rtol=1e-4, atol=2e-5, err_msg=name)


def test_cuda_training_steps_reuse_memory():
    """After warm-up, more steps take no more memory from CuPy's pool (skipped without a GPU)."""
    try:
        cuda = backend.get_backend("cuda")
    except backend.BackendUnavailable as e:
        pytest.skip(f"backend cuda unavailable: {e}")
    pool = cuda.xp.get_default_memory_pool()
    rng = np.random.default_rng(0)
    with backend.using(cuda):
        G = define_G("unet_32", ngf=8, num_downs=5, seed=0)
        D = define_D("basic", ndf=8, n_layers_D=3, seed=1)
        opt_G, opt_D = Adam(G.parameters()), Adam(D.parameters())
        a, b = (cuda.asarray(rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))
                for _ in range(2))
        totals = []
        for _ in range(6):
            train_step(G, D, opt_G, opt_D, a, b)
            cuda.synchronize()
            totals.append(pool.total_bytes())
    assert totals[-1] == totals[2], f"pool grew across steps: {totals}"
