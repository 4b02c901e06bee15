"""The FCN scorer trained with our framework, `p2p test`'s FCN-score and sharpness, and one
row of `p2p bench quality`, all tiny (32 px, a few steps): the real table is a benchmark."""
import io
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from p2p_cupy import backend
from p2p_cupy.cli.main import main
from p2p_cupy.bench import quality as ablation
from p2p_cupy.data import synthetic
from p2p_cupy.errors import P2PError
from p2p_cupy.quality import scorer


TINY = scorer.Recipe(epochs=4, n_train=32, ngf=16, decay_from=1.0)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private cache holding a tiny v2 scorer at 32 px (32 pairs, 4 epochs, ngf 16), the
    default recipe while these tests run (so `p2p test` uses it)."""
    root = tmp_path_factory.mktemp("cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(root))
    patch.setattr(scorer, "RECIPE", TINY)
    log = io.StringIO()
    with backend.using(backend.get_backend("numpy")):
        trained = scorer.load_or_train_scorer("v2", 32, out=log)
    yield root, trained, log.getvalue()
    patch.undo()


def test_the_scorer_learns_is_cached_and_reloads_to_the_same_predictions(cache):
    root, trained, log = cache
    losses = [float(line.split("cross-entropy ")[1].split(",")[0])
              for line in log.splitlines() if "epoch" in line]
    # 16 steps of batch 8: the cross-entropy falls every epoch (measured 2.05 -> 1.70)
    assert len(losses) == 4 and all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.9 * losses[0], losses
    path = scorer.scorer_path("v2", 32)
    assert path.is_file() and TINY.tag() in path.name
    real = trained.record["real_test"]
    assert set(real) == {"pixel_acc", "class_acc", "class_iou"}
    assert 0 < real["class_iou"] <= real["pixel_acc"] <= 1
    photos, labels = scorer.real_pairs("v2", 32, "test", limit=4)
    with backend.using(backend.get_backend("numpy")):
        again = scorer.load_or_train_scorer("v2", 32, out=io.StringIO())
        np.testing.assert_array_equal(again.labels(photos), trained.labels(photos))
    assert again.record == trained.record and again.record["ngf"] == 16
    assert again.record["recipe"] == TINY.tag()
    assert labels.shape == (4, 32, 32) and labels.max() < scorer.N_CLASSES


def test_a_scorer_of_another_recipe_is_never_reused(cache, tmp_path):
    """Another recipe has another file; a file whose record is not its name's recipe is
    refused in one line naming it, not silently used."""
    other = scorer.Recipe(epochs=5, n_train=32, ngf=16, decay_from=1.0)
    assert scorer.scorer_path("v2", 32, other) != scorer.scorer_path("v2", 32)
    assert scorer.scorer_path("v2", 64) != scorer.scorer_path("v2", 32)
    shutil.copy(scorer.scorer_path("v2", 32), scorer.scorer_path("v2", 32, other))
    with pytest.raises(P2PError, match=r"fcn-scorer-v2-32-e5-.*another recipe.*e4-"):
        scorer.load_or_train_scorer("v2", 32, other, out=io.StringIO())
    scorer.scorer_path("v2", 32, other).unlink()


def test_the_lr_falls_linearly_to_near_zero_after_decay_from():
    recipe = scorer.Recipe(epochs=10, lr=1e-3, decay_from=0.5)
    lrs = [recipe.lr_at(e) for e in range(1, 11)]
    assert lrs[:5] == [1e-3] * 5 and all(b < a for a, b in zip(lrs[4:], lrs[5:]))
    assert lrs[-1] == pytest.approx(1e-3 / 6)
    assert [scorer.Recipe(epochs=3, decay_from=1.0).lr_at(e) for e in (1, 2, 3)] == [1e-3] * 3


def test_labels_are_scaled_down_by_nearest_neighbour_never_mixed_into_a_third_class():
    a, b = synthetic.LABEL_COLORS[1], synthetic.LABEL_COLORS[2]
    rgb = np.zeros((4, 4, 3), np.float32)
    rgb[:, ::2], rgb[:, 1::2] = a, b                  # stripes of two classes, 1 px wide
    chw = (rgb / 127.5 - 1).transpose(2, 0, 1)
    small = scorer.labels_of(chw, 2)
    assert small.shape == (2, 2) and set(np.unique(small)) <= {1, 2}


def test_one_ablation_row_trains_and_is_scored_with_fcn_score_and_sharpness(cache, tmp_path):
    config = next(c for c in ablation.configs() if c.key == "l1")
    with backend.using(backend.get_backend("numpy")):
        row = ablation.train_and_score(config, 3, tmp_path, n_test=3, log=io.StringIO(),
                                       crop_size=32, load_size=36)
    assert row["label"] == "L1" and row["options"] == {"lambda_gan": 0.0} and row["images"] == 3
    for scores in (row["fcn_score"], row["fcn_score_real"]):
        assert all(0 <= v <= 1 for v in scores.values())
    assert row["sharpness"] > 0 and row["fcn_scorer"]["size"] == 32
    grid = ablation.sample_grid(tmp_path / "l1" / "test", row["sample_names"][:2], upscale=1)
    assert grid.shape == (64, 96, 3)
    assert "FCN-score of the outputs" in (tmp_path / "l1" / "test" / "index.html").read_text()
    lines = ablation.table_lines({"ground_truth": {"label": "ground truth",
                                                   "paper_pixel_acc": 0.8,
                                                   **row["fcn_score_real"]}, "rows": [row]})
    assert len(lines) == 4 and "| L1 | 0 | 0.42 |" in lines[-1]

    # `p2p test` on that run prints the FCN-score beside L1, PSNR and SSIM
    result = CliRunner().invoke(main, ["test", "--checkpoint", str(tmp_path / "l1"), "--data",
                                       "synthetic-facades-v2", "--num-test", "2", "--out",
                                       str(tmp_path / "t"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.splitlines()[0])
    assert {"l1", "psnr", "ssim", "fcn_score", "fcn_score_real", "sharpness"} <= set(summary)
    assert summary["fcn_score"]["pixel_acc"] == pytest.approx(
        json.loads((tmp_path / "t" / "metrics.json").read_text())["fcn_score"]["pixel_acc"])


def test_bench_quality_command_trains_scores_and_saves_a_table(cache, tmp_path):
    """`p2p bench quality` end to end on one tiny row: the JSON record and the table."""
    out = tmp_path / "q.json"
    result = CliRunner().invoke(main, [
        "bench", "quality", "--only", "patch_16", "--no-second-seed", "--steps", "2",
        "--crop-size", "32", "--num-test", "2", "--work-dir", str(tmp_path / "runs"),
        "--json", str(out), "--docs", str(tmp_path / "docs")])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["kind"] == "quality" and record["scale"]["crop_size"] == 32
    assert record["scale"]["load_size"] == 35 and record["scale"]["steps"] == 2
    (row,) = record["rows"]
    assert row["key"] == "patch_16" and row["receptive_field"] == 16 and row["images"] == 2
    assert "| PatchGAN \"16x16\": 16 px | 0 | 0.65 |" in result.output
    # 32 px crops are shown 4x: a row of input | output | target per test pair (2 here);
    # the overview has the label maps, a row per configuration and the photos, 2 pairs wide
    assert Image.open(tmp_path / "docs" / "quality_patch_16.png").size == (3 * 128, 2 * 128)
    assert Image.open(tmp_path / "docs" / "quality_ablation.png").size[0] == 260 + 2 * 128
