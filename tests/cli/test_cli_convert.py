"""`p2p convert`: a torch.save'd reference generator -> .npz that `p2p translate` runs."""
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from p2p_cupy.cli.main import main
from p2p_cupy.data.images import to_uint8_image
from p2p_cupy.evaluation.inference import read_input
from p2p_cupy.train import checkpoint
from p2p_cupy.train.build import networks_from_options
from p2p_cupy.train.options import TrainOptions


def test_convert_writes_a_checkpoint_whose_generator_matches_the_torch_one(tmp_path):
    torch = pytest.importorskip("torch")
    from p2p_cupy.bench.torch_ref import load_reference
    _, R = load_reference()
    tG = R.build(seed=0, num_downs=5, ngf=4, use_dropout=False)[0]
    pth = tmp_path / "latest_net_G.pth"
    torch.save({f"module.{k}": v for k, v in tG.state_dict().items()}, pth)
    res = CliRunner().invoke(main, ["convert", str(pth), "--out", str(tmp_path / "m.npz"),
                                       "--no-dropout"])
    assert res.exit_code == 0, res.output
    assert "G (netG unet_32, num_downs 5, ngf 4, norm batch" in res.output
    state = checkpoint.load_checkpoint(tmp_path / "m.npz")
    assert state["converted_from"] == "latest_net_G.pth"
    G = networks_from_options(TrainOptions.from_dict(state["options"]))[0].load_state_dict(
        state["G"]).eval()
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = tG.eval()(torch.from_numpy(x)).numpy()
    assert np.abs(G.forward(x) - expected).max() <= 1e-5

    # p2p translate runs the converted .npz, and the .pth directly, like PyTorch's --eval
    image = tmp_path / "in.png"
    Image.fromarray(to_uint8_image(x[0])).save(image)
    with torch.no_grad():
        torch_png = to_uint8_image(tG(torch.from_numpy(read_input(image, 3)[None])).numpy()[0])
    for source in ("m.npz", "latest_net_G.pth"):
        res = CliRunner().invoke(main, ["translate", "--checkpoint", str(tmp_path / source),
                                        str(image), "--out", str(tmp_path / source[:1]),
                                        "--eval", "--device", "numpy"])
        assert res.exit_code == 0, res.output
        ours_png = np.asarray(Image.open(tmp_path / source[:1] / "in.png"))
        assert np.abs(ours_png.astype(int) - torch_png).max() <= 1     # 8-bit rounding


def test_convert_detects_a_resnet_generator_and_translate_runs_it_like_torch(tmp_path):
    torch = pytest.importorskip("torch")
    from p2p_cupy.bench.torch_ref import load_reference
    _, R = load_reference()
    tG = R.build(seed=0, ngf=2, use_dropout=True, n_blocks=6)[0].eval()
    pth = tmp_path / "latest_net_G.pth"
    torch.save(tG.state_dict(), pth)
    res = CliRunner().invoke(main, ["convert", str(pth), "--out", str(tmp_path / "r.npz")])
    assert res.exit_code == 0, res.output
    assert ("G (netG resnet_6blocks, n_blocks 6, ngf 2, norm batch, use_dropout True"
            in res.output)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 16, 24)).astype(np.float32)
    image = tmp_path / "in.png"
    Image.fromarray(to_uint8_image(x[0])).save(image)
    res = CliRunner().invoke(main, ["translate", "--checkpoint", str(tmp_path / "r.npz"),
                                    str(image), "--out", str(tmp_path / "o"), "--eval",
                                    "--device", "numpy"])
    assert res.exit_code == 0, res.output
    x = read_input(image, 3)[None]
    with torch.no_grad():
        torch_png = to_uint8_image(tG(torch.from_numpy(x)).numpy()[0])
    ours_png = np.asarray(Image.open(tmp_path / "o" / "in.png"))
    assert np.abs(ours_png.astype(int) - torch_png).max() <= 1     # 8-bit rounding


def test_convert_says_which_file_is_wrong_and_writes_nothing(tmp_path):
    (tmp_path / "notes.pth").write_text("not a checkpoint")
    res = CliRunner().invoke(main, ["convert", str(tmp_path / "notes.pth"), "--out",
                                    str(tmp_path / "m.npz")])
    assert res.exit_code != 0
    assert "notes.pth: neither a zip nor a legacy PyTorch checkpoint" in res.output
    assert not (tmp_path / "m.npz").exists()
    res = CliRunner().invoke(main, ["convert", str(tmp_path / "notes.pth"), "--out",
                                    str(tmp_path / "m.pt")])
    assert "m.pt: the output must be a .npz file" in res.output


def test_translate_refuses_a_checkpoint_without_a_generator(tmp_path):
    checkpoint.save_checkpoint(tmp_path, "d", {"options": TrainOptions().to_dict(), "D": {}})
    Image.new("RGB", (256, 256)).save(tmp_path / "in.png")
    res = CliRunner().invoke(main, ["translate", "--checkpoint", str(tmp_path / "d.npz"),
                                    str(tmp_path / "in.png"), "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "d.npz: holds no G (it holds D, options)" in res.output



def test_convert_keeps_the_channels_of_a_gray_to_color_generator_and_a_4_channel_d(tmp_path):
    torch = pytest.importorskip("torch")
    from p2p_cupy.bench.torch_ref import load_reference
    _, R = load_reference()
    torch.manual_seed(0)
    tG = R.init_weights(R.UnetGenerator(1, 3, 5, 4, "batch", False)).eval()
    torch.save(tG.state_dict(), tmp_path / "g.pth")
    res = CliRunner().invoke(main, ["convert", str(tmp_path / "g.pth"), "--out",
                                    str(tmp_path / "g.npz"), "--no-dropout", "--input-nc", "1"])
    assert res.exit_code == 0, res.output
    opts = TrainOptions.from_dict(checkpoint.load_checkpoint(tmp_path / "g.npz")["options"])
    assert (opts.input_nc, opts.output_nc) == (1, 3)
    G = networks_from_options(opts)[0].load_state_dict(
        checkpoint.load_checkpoint(tmp_path / "g.npz")["G"]).eval()
    x = np.random.default_rng(0).uniform(-1, 1, (1, 1, 32, 32)).astype(np.float32)
    with torch.no_grad():
        assert np.abs(G.forward(x) - tG(torch.from_numpy(x)).numpy()).max() <= 1e-5
    res = CliRunner().invoke(main, ["convert", str(tmp_path / "g.pth"), "--out",
                                    str(tmp_path / "x.npz"), "--input-nc", "3"])
    assert res.exit_code == 1 and "--input-nc 3, but the weights have input_nc 1" in res.output

    torch.save(R.define_D("basic", 7, 4, 3, "batch").state_dict(), tmp_path / "d.pth")
    res = CliRunner().invoke(main, ["convert", str(tmp_path / "d.pth"), "--out",
                                    str(tmp_path / "d.npz"), "--input-nc", "4"])
    assert res.exit_code == 0, res.output
    opts = checkpoint.load_checkpoint(tmp_path / "d.npz")["options"]
    assert (opts["input_nc"], opts["output_nc"]) == (4, 3)
