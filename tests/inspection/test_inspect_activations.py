"""`p2p inspect activations` on a tiny trained run, and the probes and pictures behind it."""
import json

import numpy as np
import pytest
from ab_pairs import write_random_pairs
from click.testing import CliRunner
from PIL import Image

from p2p_cupy import nn
from p2p_cupy.cli.main import main
from p2p_cupy.inspection import pictures, probes
from p2p_cupy.inspection.activations import load_pair, load_run
from p2p_cupy.train.options import TrainOptions


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 2-step run of a tiny unet_32 on random AB pairs; returns (run dir, an AB image)."""
    root = tmp_path_factory.mktemp("inspect")
    write_random_pairs(root / "data" / "train", 2)
    result = CliRunner().invoke(main, [
        "train", "--dataroot", str(root / "data"), "--out", str(root), "--name", "tiny",
        "--netG", "unet_32", "--ngf", "4", "--ndf", "4", "--load-size", "32", "--crop-size",
        "32", "--max-steps", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return root / "tiny", root / "data" / "train" / "0.png"


def test_inspect_activations_writes_a_complete_report(tiny_run, tmp_path):
    run_dir, image = tiny_run
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["inspect", "activations", "--checkpoint", str(run_dir),
                                       str(image), "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "P(real)" in result.output
    stats = json.loads((out / "stats.json").read_text())
    _, G, D, _, _ = load_run(run_dir)
    # One statistics row per leaf layer, in execution order.
    assert [r["name"] for r in stats["activations"]["G"]] == probes.leaf_names(G)
    assert [r["name"] for r in stats["activations"]["D"]] == probes.leaf_names(D)
    relus = [r for r in stats["activations"]["G"] if r["op"] == "ReLU"]
    assert relus and all(0 <= r["zero_fraction"] <= 1 for r in relus)
    assert stats["activations"]["G"][-1]["op"] == "Tanh"
    assert 0 <= stats["activations"]["G"][-1]["saturated_fraction"] <= 1
    # A gradient norm for every layer with parameters, all finite and non-zero.
    for net, model in (("G", G), ("D", D)):
        with_params = [name for name, m in model.named_modules() if m._parameters]
        rows = stats["grad_norms"][net]
        assert [r["layer"] for r in rows] == with_params
        assert all(np.isfinite(r["grad_norm"]) and r["grad_norm"] > 0 for r in rows)
    assert all(np.isfinite(v) for v in stats["losses"].values())
    pm = stats["patch_map"]
    assert 0 < pm["mean_real"] < 1 and 0 < pm["mean_fake"] < 1
    # Pictures exist, are linked from the page, and the default layers got a grid each.
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert "patchmap.png" in pngs and len(pngs) == 1 + 5
    page = (out / "index.html").read_text()
    assert all(f'src="{name}"' in page for name in pngs)
    assert Image.open(out / "patchmap.png").size[0] >= 3 * 256


def test_unknown_layer_is_refused_with_the_valid_names(tiny_run, tmp_path):
    run_dir, image = tiny_run
    result = CliRunner().invoke(main, ["inspect", "activations", "--checkpoint", str(run_dir),
                                       str(image), "--out", str(tmp_path), "--layers", "G.nope",
                                       "--device", "cpu"])
    assert result.exit_code == 1
    assert "no layer named nope" in result.output and "act2" in result.output
    result = CliRunner().invoke(main, ["inspect", "activations", "--checkpoint", str(run_dir),
                                       str(image), "--out", str(tmp_path), "--layers", "act2",
                                       "--device", "cpu"])
    assert result.exit_code == 1 and "G.<layer> or D.<layer>" in result.output


def test_load_pair_splits_ab_and_follows_the_direction(tmp_path):
    a = np.zeros((8, 8, 3), np.uint8)
    Image.fromarray(np.concatenate([a, a + 255], axis=1)).save(tmp_path / "ab.png")
    opts = TrainOptions(load_size=8, crop_size=8)
    A, B = load_pair(tmp_path / "ab.png", opts)
    assert A.shape == (1, 3, 8, 8) and A.max() == -1 and B.min() == 1
    A, B = load_pair(tmp_path / "ab.png", TrainOptions(load_size=8, crop_size=8, direction="BtoA"))
    assert A.min() == 1 and B.max() == -1


def test_activation_stats_count_dead_relus_and_saturated_tanh():
    y = np.array([0.0, 0.0, 1.0, 2.0])
    assert probes.activation_stats("r", nn.ReLU(), y).zero_fraction == 0.5
    t = probes.activation_stats("t", nn.Tanh(), np.array([0.995, -0.999, 0.5, 0.0]))
    assert t.saturated_fraction == 0.5 and t.zero_fraction is None
    assert probes.activation_stats("c", nn.LeakyReLU(0.2), y).mean == 0.75


def test_layer_grad_norms_match_numpy(bk, rng):
    conv = nn.Conv2d(2, 3, 3, rng=rng)
    x = bk.asarray(rng.standard_normal((1, 2, 5, 5)).astype(np.float32))
    dy = bk.asarray(rng.standard_normal((1, 3, 3, 3)).astype(np.float32))
    conv.forward(x)
    conv.backward(dy)
    [(name, op, g, w)] = probes.layer_grad_norms(nn.Sequential(conv))
    expect = np.sqrt(sum(np.sum(bk.to_numpy(p.grad).astype(np.float64) ** 2)
                         for p in conv.parameters()))
    assert (name, op) == ("0", "Conv2d") and g == pytest.approx(expect, rel=1e-5)
    assert w == pytest.approx(np.linalg.norm(bk.to_numpy(conv.weight.data)), rel=1e-5)


def test_patch_probability_and_accuracy():
    logits = np.array([[[[-800.0, 0.0], [2.0, 800.0]]]])
    p = probes.patch_probability(logits)
    assert p.shape == (1, 2, 2) and np.all(np.isfinite(p))
    np.testing.assert_allclose(p[0], [[0, 0.5], [1 / (1 + np.exp(-2)), 1]], atol=1e-12)
    np.testing.assert_allclose(probes.patch_probability(logits, "lsgan")[0], [[0, 0], [1, 1]])
    acc = probes.patch_accuracy(np.array([0.9, 0.2]), np.array([0.1, 0.3, 0.7, 0.6]))
    assert acc == {"D_acc_real": 0.5, "D_acc_fake": 0.5}


def test_heat_overlay_colours_follow_the_map():
    image = np.full((64, 64, 3), 128, np.uint8)
    prob = np.array([[0.0, 1.0]])         # left half "fake", right half "real"
    out = pictures.heat_overlay(image, prob).astype(int)
    left, right = out[32, 2], out[32, -3]
    assert left[0] > left[2] + 60 and right[2] > right[0] + 60     # red left, blue right
    assert tuple(pictures.heat_colors(0.5)) == (255, 255, 191)


def test_feature_grid_scales_each_channel_and_tiles_them():
    maps = np.stack([np.arange(16.0).reshape(4, 4), np.full((4, 4), 7.0), -np.ones((4, 4))])
    grid = pictures.feature_grid(maps, min_cell=8)
    assert grid.shape == (2 * 9 + 1, 2 * 9 + 1, 3)               # 2x2 tiles of 8 px + lines
    assert grid[1, 1, 0] == 0 and grid[8, 8, 0] == 255            # first channel: 0..255
    assert grid[1, 10, 0] == 128                                  # constant channel: grey
