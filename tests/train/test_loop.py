import io
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from p2p_cupy.train import checkpoint, loop
from p2p_cupy.train.options import TrainOptions
from p2p_cupy.train.run import start_or_resume


def _options(facades, out, name, **kw):
    # unet_32 on 32x32 crops of 40x40 images: random jitter and flips on; dropout needs a
    # 6th level, so the resume tests use unet_64 on 64x64 crops (see below).
    values = dict(dataroot=str(facades), out=str(out), name=name, netG="unet_32", ngf=4,
                  ndf=4, load_size=40, crop_size=32, n_epochs=2, n_epochs_decay=2, device="numpy",
                  print_freq=2, sample_freq=4, save_latest_freq=1000, save_epoch_freq=1)
    values.update(kw)
    return TrainOptions(**values)


def _weights(run_dir):
    state = checkpoint.load_checkpoint(checkpoint.latest_checkpoint(run_dir))
    return state, {f"{net}/{k}": v for net in ("G", "D") for k, v in state[net].items()}


def _assert_same_state(run_a, run_b):
    (state_a, wa), (state_b, wb) = _weights(run_a), _weights(run_b)
    assert state_a["step"] == state_b["step"] and wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)
    for opt in ("opt_G", "opt_D"):
        for a, b in zip(checkpoint.split_tree(state_a[opt], {}), checkpoint.split_tree(
                state_b[opt], {})):
            assert a == b


DROPOUT_AND_JITTER = dict(netG="unet_64", load_size=72, crop_size=64)


def test_stop_and_resume_gives_bit_identical_weights_with_dropout_and_jitter(facades, tmp_path):
    out = io.StringIO()
    opts = _options(facades, tmp_path, "whole", max_steps=6, **DROPOUT_AND_JITTER)
    assert start_or_resume(opts, {}, out=out) == 0
    half = _options(facades, tmp_path, "halves", max_steps=3, **DROPOUT_AND_JITTER)
    assert start_or_resume(half, {}, out=out) == 0
    assert _weights(tmp_path / "halves")[0]["step"] == 3
    assert start_or_resume(half, {"max_steps": 6}, resume=tmp_path / "halves", out=out) == 0
    _assert_same_state(tmp_path / "whole", tmp_path / "halves")
    state = _weights(tmp_path / "halves")[0]
    assert any(k.endswith("step") and v > 0 for k, v in state["G"].items())   # dropout ran
    log = (tmp_path / "halves" / "loss_log.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in log[1:]] == [1, 2, 3, 4, 5, 6]


def test_a_run_ends_after_its_epochs_with_epoch_checkpoints_samples_and_report(facades, tmp_path):
    out = io.StringIO()
    assert start_or_resume(_options(facades, tmp_path, "r", batch_size=2), {}, out=out) == 0
    run = tmp_path / "r"
    assert _weights(run)[0]["step"] == 4 * 3 and _weights(run)[0]["epoch"] == 5
    assert sorted(p.name for p in (run / "checkpoints").glob("*.npz")) == [
        "epoch_0001.npz", "epoch_0002.npz", "epoch_0003.npz", "epoch_0004.npz", "latest.npz"]
    assert len(list((run / "samples").glob("*.png"))) == 3
    assert out.getvalue().count("epoch ") >= 4 and "finished" in out.getvalue()
    rows = (run / "loss_log.csv").read_text().splitlines()
    lrs = [float(r.split(",")[2]) for r in rows[1:]]
    # The schedule with 2 + 2 epochs: factors 1, 1, 2/3, 1/3, one per epoch.
    assert lrs[::3] == pytest.approx([2e-4, 2e-4, 2e-4 * 2 / 3, 2e-4 / 3])
    assert "<svg" in (run / "index.html").read_text()
    # A new run may not overwrite it; resuming may only change what makes sense.
    with pytest.raises(ValueError, match="--resume"):
        start_or_resume(_options(facades, tmp_path, "r"), {}, out=out)
    with pytest.raises(ValueError, match="--ngf"):
        start_or_resume(_options(facades, tmp_path, "r"), {"ngf": 8}, resume=run, out=out)


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(facades, tmp_path,
                                                                      monkeypatch):
    real_step = loop.train_step
    calls = []

    def step_that_diverges_at_step_5(*args, **kw):
        losses, fake = real_step(*args, **kw)
        calls.append(1)
        if len(calls) == 5:
            losses["G_L1"] = losses["G_L1"] * np.nan
        return losses, fake

    monkeypatch.setattr(loop, "train_step", step_that_diverges_at_step_5)
    out = io.StringIO()
    opts = _options(facades, tmp_path, "nan", save_latest_freq=2, print_freq=3)
    assert start_or_resume(opts, {}, out=out) == 1
    assert "loss G_L1 is nan at step 5" in out.getvalue()
    assert "last good checkpoint (step 4)" in out.getvalue()
    assert _weights(tmp_path / "nan")[0]["step"] == 4
    assert all(np.isfinite(v).all() for v in _weights(tmp_path / "nan")[1].values())


def _spawn(facades, tmp_path, name, *extra):
    cmd = [sys.executable, "-m", "p2p_cupy", "train", "--dataroot", str(facades), "--out",
           str(tmp_path), "--name", name, "--netG", "unet_64", "--ngf", "4", "--ndf", "4",
           "--load-size", "72", "--crop-size", "64", "--device", "numpy", "--n-epochs", "50",
           "--print-freq", "1", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_checkpoint_step(run_dir, step, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if json.loads((run_dir / "checkpoints" / "latest.json").read_text())["step"] >= step:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    raise AssertionError(f"no checkpoint at step {step}: {proc.communicate()[0]}")


def test_a_run_killed_with_sigkill_resumes_from_its_last_checkpoint_exactly(facades, tmp_path):
    proc = _spawn(facades, tmp_path, "killed", "--save-latest-freq", "2")
    _wait_for_checkpoint_step(tmp_path / "killed", 4, proc)
    proc.send_signal(signal.SIGKILL)      # most likely mid-step, maybe mid-checkpoint
    proc.wait()
    saved = _weights(tmp_path / "killed")[0]["step"]
    assert saved >= 4 and saved % 2 == 0
    out = io.StringIO()
    opts = _options(facades, tmp_path, "uninterrupted", max_steps=saved + 4, **DROPOUT_AND_JITTER,
                    n_epochs=50, print_freq=1)
    assert start_or_resume(opts, {}, out=out) == 0
    assert start_or_resume(opts, {"max_steps": saved + 4}, resume=tmp_path / "killed",
                           out=out) == 0
    _assert_same_state(tmp_path / "uninterrupted", tmp_path / "killed")
    steps = [int(r.split(",")[0]) for r in
             (tmp_path / "killed" / "loss_log.csv").read_text().splitlines()[1:]]
    assert steps == list(range(1, saved + 5))
    # A checkpoint the kill tore in half is a leftover temporary file, removed on resume.
    assert not [p for p in (tmp_path / "killed" / "checkpoints").iterdir()
                if p.name.startswith(".tmp")]


@pytest.mark.parametrize("sent, said", [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_ctrl_c_or_sigterm_saves_a_checkpoint_and_exits_cleanly(facades, tmp_path, sent, said):
    """SIGTERM is what `kill` and job schedulers send before they kill: it stops like Ctrl-C."""
    proc = _spawn(facades, tmp_path, "interrupted", "--save-latest-freq", "3")
    _wait_for_checkpoint_step(tmp_path / "interrupted", 3, proc)
    proc.send_signal(sent)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "Traceback" not in output and "--resume" in output
    assert f"{said}: stopping after this step and saving a checkpoint" in output
    state = _weights(tmp_path / "interrupted")[0]
    logged = (tmp_path / "interrupted" / "loss_log.csv").read_text().splitlines()
    assert state["step"] >= 3 and int(logged[-1].split(",")[0]) == state["step"]
