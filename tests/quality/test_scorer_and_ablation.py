"""The FCN scorer trained with our framework, `p2p test`'s FCN-score and sharpness, and one
row of `p2p bench quality`, all tiny (32 px, a few steps): the real table is a benchmark."""
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner

from p2p_cupy import backend
from p2p_cupy.cli.main import main
from p2p_cupy.bench import quality as ablation
from p2p_cupy.quality import scorer


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private cache holding a tiny v2 scorer at 32 px (32 pairs, 4 epochs, ngf 16)."""
    root = tmp_path_factory.mktemp("cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(root))
    log = io.StringIO()
    with backend.using(backend.get_backend("numpy")):
        trained = scorer.load_or_train_scorer("v2", 32, out=log, epochs=4, n_train=32,
                                              ngf=16)
    yield root, trained, log.getvalue()
    patch.undo()


def test_the_scorer_learns_is_cached_and_reloads_to_the_same_predictions(cache):
    root, trained, log = cache
    losses = [float(line.rsplit(" ", 1)[1]) for line in log.splitlines() if "epoch" in line]
    # 16 steps of batch 8: the cross-entropy falls every epoch (measured 2.05 -> 1.70)
    assert len(losses) == 4 and all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.9 * losses[0], losses
    assert scorer.scorer_path("v2", 32).is_file()
    real = trained.record["real_test"]
    assert set(real) == {"pixel_acc", "class_acc", "class_iou"}
    assert 0 < real["class_iou"] <= real["pixel_acc"] <= 1
    photos, labels = scorer.real_pairs("v2", 32, "test", limit=4)
    with backend.using(backend.get_backend("numpy")):
        again = scorer.load_or_train_scorer("v2", 32, out=io.StringIO())
        np.testing.assert_array_equal(again.labels(photos), trained.labels(photos))
    assert again.record == trained.record and again.record["ngf"] == 16
    assert labels.shape == (4, 32, 32) and labels.max() < scorer.N_CLASSES


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
