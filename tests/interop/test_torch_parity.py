"""Parity with PyTorch: a seed-built reference pix2pix (p2p_cupy/bench/torch_reference.py)
exported through our checkpoint reader and name mapping, loaded into our models, and both
frameworks run the same forward passes and training iterations on the same data.

Relative errors are max|ours - torch| / max|torch| per tensor. Runs only where torch is
installed (CI installs the CPU build; it is never a dependency of p2p-cupy).
"""
import numpy as np
import pytest

from p2p_cupy import backend
from p2p_cupy.interop import pix2pix_names as names
from p2p_cupy.interop.torch_checkpoint import load_state_dict
from p2p_cupy.optim import Adam
from p2p_cupy.train.step import train_step

torch = pytest.importorskip("torch")
from p2p_cupy.bench import torch_reference as R  # noqa: E402  (only once torch is there)

# Small channel counts keep CI fast; depth, norms, discriminators and batch sizes vary.
CONFIGS = {
    "unet128-batch-basic-b1": dict(num_downs=7, norm="batch", netD="basic", n_layers_D=3,
                                   batch=1, gan_mode="vanilla"),
    "unet256-instance-n1-b1-lsgan": dict(num_downs=8, norm="instance", netD="n_layers",
                                         n_layers_D=1, batch=1, gan_mode="lsgan"),
    "unet128-batch-n5-b3": dict(num_downs=7, norm="batch", netD="n_layers", n_layers_D=5,
                                batch=3, gan_mode="vanilla"),
    "unet128-batch-pixel-b3-lsgan": dict(num_downs=7, norm="batch", netD="pixel",
                                         n_layers_D=3, batch=3, gan_mode="lsgan"),
    # ResNet generators (n_blocks residual blocks) on size x size images
    "resnet2-batch-basic-b1": dict(n_blocks=2, size=32, norm="batch", netD="basic",
                                   n_layers_D=3, batch=1, gan_mode="vanilla"),
    "resnet3-instance-pixel-b2-lsgan": dict(n_blocks=3, size=12, norm="instance",
                                            netD="pixel", n_layers_D=3, batch=2,
                                            gan_mode="lsgan"),
}
# Five iterations in float64 cost the most: smaller images (64 px), both norms.
ADAM_CONFIGS = {
    "unet64-batch-basic-b3": dict(num_downs=6, norm="batch", netD="basic", n_layers_D=3,
                                  batch=3, gan_mode="vanilla"),
    "unet64-instance-pixel-b1-lsgan": dict(num_downs=6, norm="instance", netD="pixel",
                                           n_layers_D=3, batch=1, gan_mode="lsgan"),
    "resnet1-batch-pixel-b2": dict(n_blocks=1, size=12, norm="batch", netD="pixel",
                                   n_layers_D=3, batch=2, gan_mode="vanilla"),
}
NGF = NDF = 4
FORWARD_TOL = {np.float32: 1e-5, np.float64: 1e-12}
TRAIN_RTOL = 1e-4
ADAM_RTOL_F64 = 1e-9            # the issue asks for 1e-4


def rel_err(ours, ref):
    return float(np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-30))


def via_checkpoint(module, path):
    """torch.save the reference weights and read them back with our torch-free reader."""
    torch.save(module.state_dict(), path)
    return load_state_dict(path)


def build_pair(cfg, tmp_path, dtype=np.float32, use_dropout=False, seed=0):
    """(torch G, D, opt_G, opt_D), (our G, D): the same weights in both frameworks."""
    tG, tD, t_opt_G, t_opt_D = R.build(seed=seed, num_downs=cfg.get("num_downs", 8), ngf=NGF,
                                       ndf=NDF, norm=cfg["norm"], netD=cfg["netD"],
                                       n_layers_D=cfg["n_layers_D"], use_dropout=use_dropout,
                                       n_blocks=cfg.get("n_blocks"))
    G = names.build_generator(via_checkpoint(tG, tmp_path / "G.pth"), use_dropout)
    D = names.build_discriminator(via_checkpoint(tD, tmp_path / "D.pth"))
    if dtype == np.float64:
        tG.double(), tD.double()
        G.astype(np.float64), D.astype(np.float64)
    return (tG, tD, t_opt_G, t_opt_D), (G, D)


def batch(cfg, dtype=np.float32, seed=1):
    rng = np.random.default_rng(seed)
    size = cfg["size"] if "n_blocks" in cfg else 2 ** cfg["num_downs"]
    A, B = (rng.uniform(-1, 1, (cfg["batch"], 3, size, size)).astype(dtype) for _ in "AB")
    return A, B


def named_arrays(model, which):
    """{reference name: host array} of our parameters' data or grads (and BN buffers)."""
    bk = backend.current()
    mapping = names.module_names(model)
    out = {}
    for key, p in model.named_parameters():
        out[names.reference_key(model, key, mapping)] = bk.to_numpy(getattr(p, which))
    if which == "data":
        for key, _, _, b in model.named_buffers():
            ref = names.reference_key(model, key, mapping)
            if ref is not None:
                out[ref] = bk.to_numpy(b)
    return out


def torch_arrays(module, which):
    if which == "grad":
        return {k: p.grad.detach().numpy() for k, p in module.named_parameters()}
    return {k: v.detach().numpy() for k, v in module.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def assert_all_close(ours, ref, tol, what, ref_module):
    """Every tensor within tol (relative), but for the biases followed by instance norm:
    the norm subtracts them again, so their true gradient is 0 and both frameworks hold
    rounding noise there (and Adam's g / sqrt(v) makes the weights noise too); ours must be
    noise of the same size as PyTorch's (10x), measured against the layer's weight."""
    assert sorted(ours) == sorted(ref), what
    errors = {}
    for k in ref:
        if k.endswith(".bias") and followed_by_norm(ref_module, k):
            scale = np.abs(ref[k[:-len("bias")] + "weight"]).max()
            noise = np.abs(ours[k]).max()
            assert noise <= 10 * np.abs(ref[k]).max() + tol * scale, f"{what}: {k} {noise:.1e}"
        else:
            errors[k] = rel_err(ours[k], ref[k])
    worst = max(errors, key=errors.get)
    assert errors[worst] <= tol, f"{what}: {worst} rel err {errors[worst]:.2e} > {tol}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", CONFIGS)
def test_forward_of_G_and_D_matches_torch_in_train_and_eval_mode(bk, name, dtype, tmp_path):
    cfg = CONFIGS[name]
    (tG, tD, _, _), (G, D) = build_pair(cfg, tmp_path, dtype)
    A, B = batch(cfg, dtype)
    AB = np.concatenate([A, B], axis=1)
    tol = FORWARD_TOL[dtype]
    for train in (True, False):
        for ours, ref, x in ((G, tG, A), (D, tD, AB)):
            ours.train(train), ref.train(train)
            with torch.no_grad():
                expected = ref(torch.from_numpy(x)).numpy()
            got = bk.to_numpy(ours.forward(bk.asarray(x)))
            diff = float(np.abs(got - expected).max())
            assert diff <= tol, f"{type(ours).__name__} train={train}: max |diff| {diff:.2e}"
    # the train-mode passes updated the BN running statistics identically
    assert_all_close(named_arrays(G, "data"), torch_arrays(tG, "data"), tol, "G state", tG)


def run_both(cfg, torch_side, our_side, A, B, steps):
    tG, tD, t_opt_G, t_opt_D = torch_side
    G, D = our_side
    opt_G, opt_D = Adam(G.parameters()), Adam(D.parameters())
    bk = backend.current()
    tA, tB = torch.from_numpy(A), torch.from_numpy(B)
    losses = []
    for _ in range(steps):
        ours, _ = train_step(G, D, opt_G, opt_D, bk.asarray(A), bk.asarray(B),
                             cfg["gan_mode"])
        ref, _ = R.train_step(tG, tD, t_opt_G, t_opt_D, tA, tB, cfg["gan_mode"])
        losses.append((ours, ref))
    return losses


def check_losses(losses):
    for ours, ref in losses:
        for key in ("G_GAN", "D_real", "D_fake"):
            assert abs(float(ours[key]) - ref[key].item()) <= 1e-4 * max(1, abs(ref[key].item()))
        # the reference reports G_L1 already multiplied by lambda_L1 = 100
        assert abs(100 * float(ours["G_L1"]) - ref["G_L1"].item()) <= 1e-4 * ref["G_L1"].item()


@pytest.mark.parametrize("name", CONFIGS)
def test_gradients_after_one_iteration_match_torch(bk, name, tmp_path):
    cfg = CONFIGS[name]
    torch_side, our_side = build_pair(cfg, tmp_path)
    A, B = batch(cfg)
    check_losses(run_both(cfg, torch_side, our_side, A, B, steps=1))
    for ours, ref, label in zip(our_side, torch_side[:2], "GD"):
        assert_all_close(named_arrays(ours, "grad"), torch_arrays(ref, "grad"), TRAIN_RTOL,
                         f"{label} gradients", ref)


@pytest.mark.parametrize("name", ADAM_CONFIGS)
def test_weights_after_five_adam_iterations_match_torch(bk, name, tmp_path):
    """In float64. In float32 both frameworks are right and still drift apart: Adam's
    first steps move each weight by about lr * g / |g|, so a gradient element near zero
    turns float32 rounding (~1e-6 relative) into a different step, and GAN training with
    batch norm on 1x1 / 2x2 maps amplifies it (measured: 2e-4 after one step, 4e-2
    after five). In float64 the two agree to ~1e-11 after five steps."""
    cfg = ADAM_CONFIGS[name]
    torch_side, our_side = build_pair(cfg, tmp_path, np.float64)
    A, B = batch(cfg, np.float64)
    check_losses(run_both(cfg, torch_side, our_side, A, B, steps=5))
    for ours, ref, label in zip(our_side, torch_side[:2], "GD"):
        assert_all_close(named_arrays(ours, "data"), torch_arrays(ref, "data"),
                         ADAM_RTOL_F64, f"{label} weights after 5 Adam steps", ref)


def followed_by_norm(module, param_key):
    """True when the layer owning param_key is followed by an InstanceNorm2d."""
    parent, index = param_key.rsplit(".", 1)[0].rsplit(".", 1)
    seq = module.get_submodule(parent)
    return int(index) + 1 < len(seq) and isinstance(seq[int(index) + 1],
                                                     torch.nn.InstanceNorm2d)


class FixedMask(torch.nn.Module):
    """Dropout with a given mask (already scaled by 1 / (1 - p)): ours, fed to PyTorch."""

    def __init__(self, mask):
        super().__init__()
        self.mask = torch.from_numpy(mask)

    def forward(self, x):
        return x * self.mask


def test_dropout_iteration_matches_torch_given_our_masks(bk, tmp_path):
    """In float64, for the weights' sake (see the five-iteration test)."""
    cfg = CONFIGS["unet128-batch-basic-b1"]                 # dropout on levels 5 and 6
    torch_side, (G, D) = build_pair(cfg, tmp_path, np.float64, use_dropout=True)
    A, B = batch(cfg, np.float64)
    # Our masks are a function of (seed, step, index): draw this step's by a forward pass
    # on a copy, then give them to the reference in place of its own Dropout.
    probe = names.build_generator(via_checkpoint(torch_side[0], tmp_path / "G2.pth"), True)
    probe.astype(np.float64)
    probe.forward(bk.asarray(A))
    masks = [bk.to_numpy(probe.level("dec", k)[-1]._cache) for k in (5, 6)]
    assert len(masks) == 2 and all(0 < (m == 0).mean() < 1 for m in masks)
    replaced = 0
    for module in torch_side[0].modules():          # outermost first: levels 5, 6 in order
        for child_name, child in module.named_children():
            if isinstance(child, torch.nn.Dropout):
                setattr(module, child_name, FixedMask(masks[replaced]))
                replaced += 1
    assert replaced == 2
    run_both(cfg, torch_side, (G, D), A, B, steps=1)
    assert_all_close(named_arrays(G, "grad"), torch_arrays(torch_side[0], "grad"), TRAIN_RTOL,
                     "G gradients with dropout", torch_side[0])
    assert_all_close(named_arrays(G, "data"), torch_arrays(torch_side[0], "data"),
                     ADAM_RTOL_F64, "G weights after a step with dropout", torch_side[0])


@pytest.mark.parametrize("netG,norm", [("resnet_9blocks", "batch"), ("resnet_6blocks", "instance")])
def test_resnet_parameter_count_and_names_equal_the_torch_oracle(netG, norm):
    from p2p_cupy.models import define_G
    ours = define_G(netG, norm=norm)
    ref = R.ResnetGenerator(3, 3, 64, norm, True, int(netG[7]))
    assert ours.num_parameters() == sum(p.numel() for p in ref.parameters())
    ref_shapes = {k: tuple(v.shape) for k, v in ref.state_dict().items()
                  if not k.endswith("num_batches_tracked")}
    ours_shapes = {k: v.shape for k, v in ours.state_dict().items() if not k.endswith(".step")}
    assert ours_shapes == ref_shapes


@pytest.mark.parametrize("use_dropout", [True, False])
def test_resnet_checkpoint_with_or_without_dropout_is_detected_and_runs_like_torch(
        bk, use_dropout, tmp_path):
    """The blocks' dropout shifts their second conv's index: detected from the names, and
    the eval-mode output (dropout off) is PyTorch's."""
    cfg = CONFIGS["resnet2-batch-basic-b1"]
    tG = build_pair(cfg, tmp_path, use_dropout=use_dropout)[0][0]
    state = via_checkpoint(tG, tmp_path / "G.pth")
    assert names.detect_resnet_generator(state)["use_dropout"] == use_dropout
    G = names.build_generator(state, use_dropout=not use_dropout).eval()   # the flag is moot
    A, _ = batch(cfg)
    with torch.no_grad():
        expected = tG.eval()(torch.from_numpy(A)).numpy()
    assert np.abs(bk.to_numpy(G.forward(bk.asarray(A))) - expected).max() <= FORWARD_TOL[np.float32]
