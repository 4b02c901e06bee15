"""Training with the reference's remaining options (wgangp, step schedule, serial batches,
max dataset size, channels), resuming from a kept epoch and from another folder, and
fine-tuning a new run from trained weights (--init-from)."""
import io

import numpy as np
import pytest

from p2p_cupy.errors import P2PError
from p2p_cupy.train import checkpoint
from p2p_cupy.train.options import TrainOptions
from p2p_cupy.train.run import start_or_resume


def _options(name, out, **kw):
    values = dict(dataroot="tiny_facades0", out=str(out), name=name, netG="unet_32", ngf=4,
                  ndf=4, load_size=36, crop_size=32, n_epochs=2, n_epochs_decay=1,
                  batch_size=2, device="numpy", print_freq=1, sample_freq=100,
                  save_latest_freq=1000, save_epoch_freq=1, gan_mode="wgangp",
                  lr_policy="step", lr_decay_iters=1, serial_batches=True,
                  max_dataset_size=4, input_nc=1, output_nc=3, init_type="xavier")
    values.update(kw)
    return TrainOptions(**values)


def _state(run, name="latest"):
    return checkpoint.load_checkpoint(checkpoint.checkpoint_dir(run) / f"{name}.npz")


def _assert_same_weights(a, b, nets=("G", "D")):
    for net in nets:
        assert a[net].keys() == b[net].keys()
        for k in a[net]:
            np.testing.assert_array_equal(a[net][k], b[net][k], err_msg=f"{net}/{k}")


@pytest.fixture(scope="module")
def whole_run(facades, tmp_path_factory):
    """Three epochs of 2 steps (4 of the 6 pairs, 1 -> 3 channels, wgangp, step policy),
    started with a data root relative to the working folder."""
    out = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(facades.parent)
        assert start_or_resume(_options("whole", out), {}, out=io.StringIO()) == 0
    return out / "whole"


def test_a_run_with_the_new_options_logs_the_penalty_and_follows_the_step_policy(whole_run,
                                                                                 facades):
    state = _state(whole_run)
    assert state["step"] == 6 and state["options"]["dataroot"] == str(facades.resolve())
    assert state["G"]["enc1.0.weight"].shape[1] == 1 and state["D"]["0.weight"].shape[1] == 4
    rows = (whole_run / "loss_log.csv").read_text().splitlines()
    assert rows[0].split(",") == ["step", "epoch", "lr", "G_GAN", "G_L1", "D_real", "D_fake",
                                  "D_GP"]
    values = np.array([[float(v) for v in r.split(",")] for r in rows[1:]])
    assert np.isfinite(values).all() and (values[:, 7] > 0).all()
    assert values[:, 2] == pytest.approx([2e-4, 2e-4, 2e-5, 2e-5, 2e-6, 2e-6])
    assert sorted(p.name for p in (whole_run / "checkpoints").glob("epoch_*.npz")) == [
        "epoch_0001.npz", "epoch_0002.npz", "epoch_0003.npz"]


def test_resume_mid_epoch_from_another_folder_and_from_a_kept_epoch_are_bit_exact(
        whole_run, facades, tmp_path, monkeypatch):
    out = io.StringIO()
    monkeypatch.chdir(facades.parent)
    assert start_or_resume(_options("halves", tmp_path, max_steps=3), {}, out=out) == 0
    monkeypatch.chdir(tmp_path)                # the relative data root is not here
    run = tmp_path / "halves"
    # mid-epoch, the checkpoint holds the epoch's L1 so far (what --lr-policy plateau reads)
    step3 = (run / "loss_log.csv").read_text().splitlines()[3].split(",")
    assert _state(run)["epoch_l1"] == [float(step3[4]), 1]
    assert start_or_resume(None, {"max_steps": 6}, resume=run, out=out) == 0
    whole, halves = _state(whole_run), _state(run)
    _assert_same_weights(whole, halves)
    assert halves["step"] == 6
    assert (run / "loss_log.csv").read_text() == (whole_run / "loss_log.csv").read_text()
    # back to the end of epoch 1 and on to the end again: the same run once more
    assert start_or_resume(None, {"max_steps": 6}, resume=run, epoch=1, out=out) == 0
    _assert_same_weights(whole, _state(run))
    with pytest.raises(ValueError, match=r"epoch 7 \(kept epochs: 1, 2\)"):
        start_or_resume(None, {}, resume=run, epoch=7, out=out)


@pytest.mark.parametrize("g_only", [False, True])
def test_init_from_a_run_takes_its_architecture_and_weights(whole_run, facades, tmp_path,
                                                            g_only):
    # lr 1e-30 (0 is refused): one step moves a weight by about 1e-30, far below the 1e-12
    # compared to, so the new run must hold the source's
    given = {"init_from": str(whole_run), "lr": 1e-30, "max_steps": 1}
    opts = TrainOptions(dataroot=str(facades), out=str(tmp_path), name="tuned",
                        load_size=36, crop_size=32, device="numpy", gan_mode="lsgan", **given)
    out = io.StringIO()
    assert start_or_resume(opts, given, out=out, init_g_only=g_only) == 0
    assert ("weights of" in out.getvalue()) and (("G and D" in out.getvalue()) != g_only)
    tuned, source = _state(tmp_path / "tuned"), _state(whole_run)
    assert tuned["options"]["netG"] == "unet_32" and tuned["options"]["input_nc"] == 1
    assert tuned["step"] == 1 and tuned["options"]["init_from"] == str(whole_run)
    params = [k for k in source["G"] if "running" not in k and not k.endswith("step")]
    for k in params:
        np.testing.assert_allclose(tuned["G"][k], source["G"][k], rtol=0, atol=1e-12,
                                   err_msg=f"G/{k}")
    d_tuned, d_source = tuned["D"]["0.weight"], source["D"]["0.weight"]
    same_d = d_tuned.shape == d_source.shape and np.allclose(d_tuned, d_source, rtol=0,
                                                             atol=1e-12)
    assert same_d != g_only


def test_init_from_refuses_weights_that_do_not_fit(whole_run, facades, tmp_path):
    given = {"init_from": str(whole_run), "ngf": 8}
    opts = TrainOptions(dataroot=str(facades), out=str(tmp_path), name="bad", device="numpy",
                        **given)
    with pytest.raises(ValueError, match="does not fit this run's options"):
        start_or_resume(opts, given, out=io.StringIO())


def test_init_from_a_pth_needs_the_reader_the_cli_hands_down(facades, tmp_path):
    (tmp_path / "g.pth").write_bytes(b"")       # train cannot read .pth itself (layer cake)
    given = {"init_from": str(tmp_path / "g.pth")}
    opts = TrainOptions(dataroot=str(facades), out=str(tmp_path), name="pth", device="numpy",
                        **given)
    with pytest.raises(P2PError, match="--init-from .*g.pth: no PyTorch .pth reader"):
        start_or_resume(opts, given, out=io.StringIO())


def test_plateau_state_is_checkpointed_and_resumed(facades, tmp_path):
    out = io.StringIO()
    opts = _options("plateau", tmp_path, dataroot=str(facades), lr_policy="plateau",
                    max_steps=3)
    assert start_or_resume(opts, {}, out=out) == 0
    run = tmp_path / "plateau"
    state = _state(run)
    rows = (run / "loss_log.csv").read_text().splitlines()[1:]
    epoch1_l1 = [float(r.split(",")[4]) for r in rows if r.split(",")[1] == "1"]
    assert float(state["schedule"]["best"]) == sum(epoch1_l1) / len(epoch1_l1)
    assert int(state["schedule"]["bad_epochs"]) == 0 and float(state["schedule"]["current"]) == 1
    assert start_or_resume(None, {"max_steps": 4}, resume=run, out=out) == 0
    assert float(_state(run)["schedule"]["best"]) == float(state["schedule"]["best"])


@pytest.mark.parametrize("option, value, message", [
    ("input_nc", 2, "--input-nc 2: must be 1, 3 or 4"),
    ("output_nc", 4, "--output-nc 4: must be 1 or 3"),
    ("max_dataset_size", 0, "--max-dataset-size 0: must be a whole number >= 1"),
    ("gan_mode", "hinge", "--gan-mode 'hinge': must be one of vanilla, lsgan, wgangp"),
    ("lambda_gp", -1.0, "--lambda-gp -1.0: the gradient penalty's weight must be >= 0"),
    ("lr_policy", "exp", "--lr-policy 'exp': must be one of linear, step, plateau, cosine"),
    ("lr_decay_iters", 0, "--lr-decay-iters 0: must be a whole number >= 1"),
    ("init_type", "zeros", "--init-type 'zeros': must be one of normal, xavier"),
    ("init_gain", float("nan"), "--init-gain nan: must be > 0"),
])
def test_issue18_options_are_validated_with_the_others(option, value, message):
    with pytest.raises(P2PError) as info:
        TrainOptions(**{option: value})
    assert message in str(info.value)
