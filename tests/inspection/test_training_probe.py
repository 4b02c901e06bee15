"""--inspect-freq: watching training steps from inside changes nothing and reports them."""
import json

import numpy as np
from ab_pairs import write_random_pairs
from click.testing import CliRunner
from PIL import Image

from p2p_cupy.cli.main import main
from p2p_cupy.inspection import probes
from p2p_cupy.inspection.training_probe import InspectionLog, inspect_step
from p2p_cupy.models import define_D, define_G
from p2p_cupy.optim import Adam
from p2p_cupy.train.step import train_step


def tiny_models():
    G = define_G("tiny", ngf=2, num_downs=3, seed=0)
    D = define_D("basic", ndf=2, seed=1)
    return G, D, Adam(G.parameters()), Adam(D.parameters())


def test_inspect_step_records_without_changing_the_step(rng):
    A = rng.uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
    B = rng.uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
    plain = tiny_models()
    losses, fake = train_step(*plain, A, B)
    watched = tiny_models()
    (losses_w, fake_w), record = inspect_step(watched[0], watched[1],
                                              lambda: train_step(*watched, A, B))
    assert {k: float(v) for k, v in losses.items()} == {k: float(v) for k, v in losses_w.items()}
    np.testing.assert_array_equal(fake, fake_w)
    for a, b in zip(plain[0].parameters() + plain[1].parameters(),
                    watched[0].parameters() + watched[1].parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert 0 <= record["D_acc_real"] <= 1 and 0 <= record["D_acc_fake"] <= 1
    patch = np.array(record["patch_map"])
    assert patch.shape == (2, 2) and record["patch_mean_fake"] == patch.mean()   # 32 px -> 2x2
    layers = [row[0] for row in probes.layer_grad_norms(watched[0])]
    assert [row[0] for row in record["grad_G"]] == layers
    assert all(row[2] > 0 for row in record["grad_G"] + record["grad_D"])


def test_log_keeps_step_order_when_a_resumed_run_repeats_steps(tmp_path):
    log = InspectionLog(tmp_path)
    fake = np.zeros((1, 3, 8, 8), np.float32)
    record = {"D_acc_real": 1.0, "D_acc_fake": 0.5, "patch_mean_fake": 0.25,
              "patch_map": [[0.25]], "grad_G": [["enc1.0", "Conv2d", 1.0, 2.0]], "grad_D": []}
    for step in (10, 20, 30, 20, 30):          # killed after 30, resumed from step 10
        log.add(step, {**record, "D_acc_real": step / 100}, fake)
    kept = [(r["step"], r["D_acc_real"]) for r in log.records()]
    assert kept == [(10, 0.1), (20, 0.2), (30, 0.3)]
    width, height = Image.open(tmp_path / "inspect" / "patchmap_0000030.png").size
    assert width == 2 * 256 + 6 and height > 256              # sample | heat map, scale below
    section = log.html_section()
    assert "inspect/patchmap_0000030.png" in section and "enc1.0" in section
    assert InspectionLog(tmp_path / "other").html_section() == ""


def test_train_with_inspect_freq_reports_every_n_steps(tmp_path):
    write_random_pairs(tmp_path / "data" / "train", 1)
    result = CliRunner().invoke(main, [
        "train", "--dataroot", str(tmp_path / "data"), "--out", str(tmp_path), "--name", "r",
        "--netG", "unet_32", "--ngf", "2", "--ndf", "2", "--load-size", "32", "--crop-size",
        "32", "--max-steps", "4", "--inspect-freq", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "r"
    lines = (run / "inspect" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [2, 4]
    page = (run / "index.html").read_text()
    assert "Inside the networks" in page and "patchmap_0000004.png" in page
