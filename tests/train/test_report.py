import numpy as np
from PIL import Image

from p2p_cupy.train import report


def _losses(v):
    return {name: v for name in report.LOSS_NAMES}


def test_report_writes_log_samples_and_an_index_with_svg_charts(tmp_path):
    rep = report.RunReport(tmp_path)
    rep.log_losses([(s, 1, 2e-4, _losses(1.0 / s)) for s in range(1, 11)])
    batch = np.zeros((2, 3, 8, 8), np.float32)
    path = rep.save_sample(10, batch - 1, batch, batch + 1)
    img = np.asarray(Image.open(path))
    assert img.shape == (16, 24, 3)            # 2 rows of input | output | target
    assert img[0, 0, 0] == 0 and img[0, 8, 0] == 128 and img[0, 16, 0] == 255
    rep.write_index({"name": "demo", "lr": 2e-4}, {"step": 10, "speed": "3.0 it/s"})
    page = (tmp_path / "index.html").read_text()
    assert page.count("<svg") == len(report.LOSS_NAMES) and "<polyline" in page
    assert 'src="samples/step_0000010.png"' in page and "3.0 it/s" in page and "demo" in page


def test_truncate_log_drops_the_steps_a_resumed_run_redoes(tmp_path):
    rep = report.RunReport(tmp_path)
    rep.log_losses([(s, 1, 2e-4, _losses(float(s))) for s in range(1, 8)])
    rep.truncate_log(4)
    rep.log_losses([(5, 1, 2e-4, _losses(50.0))])
    rows = rep.read_log()
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5] and rows[-1]["G_L1"] == 50.0


def test_loss_chart_skips_non_finite_values_and_handles_one_point():
    assert report.loss_chart("G_L1", [1, 2], [float("nan"), float("inf")]) == ""
    assert "<polyline" in report.loss_chart("G_L1", [1], [0.5])
