"""`p2p train`, `p2p test` and `p2p translate` on one tiny run, through click."""
import json

import numpy as np
import pytest
from ab_pairs import write_random_pairs
from click.testing import CliRunner
from PIL import Image

from p2p_cupy import backend
from p2p_cupy.cli.main import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 6-step run of a tiny unet_32 on a tiny AB data set; returns (data root, run dir)."""
    root = tmp_path_factory.mktemp("cli")
    data = root / "data"
    rng = np.random.default_rng(0)
    for phase, n in (("train", 4), ("test", 3)):
        write_random_pairs(data / phase, n, rng=rng)
    result = CliRunner().invoke(main, [
        "train", "--dataroot", str(data), "--out", str(root), "--name", "tiny", "--netG",
        "unet_32", "--ngf", "4", "--ndf", "4", "--load-size", "32", "--crop-size", "32",
        "--max-steps", "6", "--print-freq", "3", "--sample-freq", "3", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "stopped at step 6" in result.output
    return data, root / "tiny"


def test_train_leaves_a_report_and_can_be_resumed_for_more_steps(run):
    data, run_dir = run
    assert (run_dir / "index.html").exists() and len(list((run_dir / "samples").iterdir())) == 2
    result = CliRunner().invoke(main, ["train", "--resume", str(run_dir), "--max-steps", "8"])
    assert result.exit_code == 0, result.output
    assert "resuming" in result.output and "stopped at step 8" in result.output


def test_train_refuses_an_unavailable_device_in_one_line(run, tmp_path):
    if "cuda" in backend.available_backends():
        pytest.skip("cuda is available here")
    data, _ = run
    result = CliRunner().invoke(main, ["train", "--device", "cuda", "--dataroot", str(data),
                                       "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: device 'cuda'") and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_test_command_writes_outputs_index_and_metrics(run, tmp_path):
    data, run_dir = run
    result = CliRunner().invoke(main, ["test", "--checkpoint", str(run_dir), "--data", str(data),
                                       "--num-test", "2", "--out", str(tmp_path), "--eval"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["images"] == 2 and metrics["eval_mode"] is True
    assert 0 < metrics["l1"] < 1 and -1 <= metrics["ssim"] <= 1 and metrics["psnr"] > 0
    assert "fcn_score" not in metrics         # only for the built-in synthetic facades
    assert len(list((tmp_path / "images").glob("*_output.png"))) == 2
    assert "_target.png" in (tmp_path / "index.html").read_text()


@pytest.mark.parametrize("fit", ["pad", "resize", "none"])
def test_translate_brings_a_1000x700_photo_back_at_its_size_with_every_fit(run, tmp_path, fit):
    _, run_dir = run
    photo = np.random.default_rng(1).integers(0, 256, (700, 1000, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.jpg")
    result = CliRunner().invoke(main, ["translate", "--checkpoint", str(run_dir), "--fit", fit,
                                       str(tmp_path / "photo.jpg"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "o" / "photo.png").size == (1000, 700)


def test_translate_takes_folders_sizes_tiles_and_kept_epochs(run, tmp_path):
    _, run_dir = run
    (tmp_path / "in").mkdir()
    Image.fromarray(np.zeros((64, 96, 3), np.uint8)).save(tmp_path / "in" / "wide.png")
    Image.fromarray(np.zeros((50, 70), np.uint8)).save(tmp_path / "in" / "gray.png")
    result = CliRunner().invoke(main, ["translate", "--checkpoint", str(run_dir), "--tile", "32",
                                       str(tmp_path / "in"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "o" / "wide.png").size == (96, 64)
    assert Image.open(tmp_path / "o" / "gray.png").size == (70, 50)
    result = CliRunner().invoke(main, ["translate", "--checkpoint", str(run_dir), "--size", "35",
                                       "--epoch", "latest", str(tmp_path / "in" / "gray.png"),
                                       "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "s" / "gray.png").size == (35, 25)
    for args, message in ((["--epoch", "3"], "no checkpoint kept for epoch 3"),
                          (["--input-nc", "1"], "has 3 input channels"),
                          (["--fit", "none", "--size", "20x20"], "at least 32 pixels")):
        result = CliRunner().invoke(main, ["translate", "--checkpoint", str(run_dir), *args,
                                           str(tmp_path / "in"), "--out", str(tmp_path / "x")])
        assert result.exit_code == 1 and message in result.output, result.output


def test_test_command_takes_a_folder_of_pairs_at_their_own_size(run, tmp_path):
    data, run_dir = run
    folder = tmp_path / "pairs"
    folder.mkdir()
    Image.fromarray(np.zeros((40, 100, 3), np.uint8)).save(folder / "p.png")
    result = CliRunner().invoke(main, ["test", "--checkpoint", str(run_dir), "--data",
                                       str(folder), "--native-size", "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "t" / "images" / "p_output.png").size == (48, 40)   # 50 rounded to 4s
    result = CliRunner().invoke(main, ["test", "--checkpoint", str(run_dir), "--data",
                                       str(data / "test" / "1.png"), "--out", str(tmp_path / "u")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "u" / "images").iterdir()) == [
        "1_input.png", "1_output.png", "1_target.png"]


@pytest.mark.parametrize("input_nc,output_nc", [(4, 3), (3, 1)])
def test_translate_rgba_inputs_and_grayscale_outputs(tmp_path, input_nc, output_nc):
    from p2p_cupy.train import checkpoint
    from p2p_cupy.train.build import networks_from_options
    from p2p_cupy.train.options import TrainOptions
    opts = TrainOptions(netG="unet_32", ngf=4, input_nc=input_nc, output_nc=output_nc)
    with backend.using(backend.get_backend("numpy")):
        G = networks_from_options(opts)[0]
        checkpoint.save_checkpoint(tmp_path, "m", {"options": opts.to_dict(),
                                                   "G": dict(G.state_dict())})
    rgba = np.random.default_rng(2).integers(0, 256, (40, 36, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in.png")
    result = CliRunner().invoke(main, ["translate", "--checkpoint", str(tmp_path / "m.npz"),
                                       "--input-nc", str(input_nc), "--output-nc",
                                       str(output_nc), "--eval", "--device", "numpy",
                                       str(tmp_path / "in.png"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    out = Image.open(tmp_path / "o" / "in.png")
    assert out.size == (36, 40) and out.mode == ("L" if output_nc == 1 else "RGB")


def test_train_init_from_a_run_through_the_cli(run, tmp_path):
    data, run_dir = run
    result = CliRunner().invoke(main, [
        "train", "--init-from", str(run_dir), "--init-g-only", "--dataroot", str(data),
        "--out", str(tmp_path), "--name", "ft", "--load-size", "32", "--crop-size", "32",
        "--max-steps", "1", "--lr-policy", "cosine", "--init-type", "orthogonal",
        "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert f"starting from the G weights of {run_dir}" in result.output
    assert "unet_32" in result.output                       # the source's architecture
    result = CliRunner().invoke(main, ["train", "--resume", str(tmp_path / "ft"), "--epoch",
                                       "2"])
    assert result.exit_code == 1 and "no checkpoint kept for epoch 2" in result.output


def test_train_init_from_a_pytorch_generator_through_the_cli(run, tmp_path):
    """The .pth is read by the interop reader that `p2p train` hands down to the run."""
    torch = pytest.importorskip("torch")
    from p2p_cupy.bench.torch_ref import load_reference
    data, _ = run
    tG = load_reference()[1].build(seed=0, num_downs=5, ngf=4, use_dropout=False)[0]
    pth = tmp_path / "latest_net_G.pth"
    torch.save(tG.state_dict(), pth)
    result = CliRunner().invoke(main, [
        "train", "--init-from", str(pth), "--dataroot", str(data), "--out", str(tmp_path),
        "--name", "ft", "--load-size", "32", "--crop-size", "32", "--max-steps", "1",
        "--ndf", "4", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert f"starting from the G weights of {pth}" in result.output
    assert "unet_32 (" in result.output                     # the .pth's architecture


@pytest.mark.parametrize("ablation", [[], ["--lambda-gan", "0"], ["--unconditional-D"]],
                         ids=["l1_cgan", "l1_only", "unconditional_D"])
def test_cuda_graph_on_emu_trains_the_same_weights_and_resumes_exactly(run, tmp_path, ablation):
    """--cuda-graph on emu: step 1 eager, step 2 planned, then replays of the capture; the
    weights, moments and losses are those of eager steps, also across a resume; also for
    the loss ablations (L1 alone: D never runs; an unconditional D judges B alone)."""
    try:
        backend.get_backend("emu")
    except backend.BackendUnavailable as e:
        pytest.skip(str(e))
    data, _ = run
    common = ["--dataroot", str(data), "--out", str(tmp_path), "--netG", "unet_32", "--ngf",
              "2", "--ndf", "2", "--load-size", "32", "--crop-size", "32", "--print-freq", "2",
              "--device", "emu", *ablation]
    for name, graph, steps in (("eager", "--no-cuda-graph", "5"), ("graph", "--cuda-graph", "3")):
        result = CliRunner().invoke(main, ["train", *common, "--name", name, graph,
                                           "--max-steps", steps])
        assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["train", "--resume", str(tmp_path / "graph"),
                                       "--max-steps", "5"])
    assert result.exit_code == 0, result.output
    eager, graph = (np.load(tmp_path / n / "checkpoints" / "latest.npz") for n in ("eager", "graph"))
    arrays = [k for k in eager.files if k != "__tree__"]
    assert arrays and all(np.array_equal(eager[k], graph[k]) for k in arrays)
    logs = [(tmp_path / n / "loss_log.csv").read_text() for n in ("eager", "graph")]
    assert logs[0] == logs[1] and len(logs[0].splitlines()) == 6


def test_cuda_graph_on_the_cpu_is_refused_in_one_line(run, tmp_path):
    data, _ = run
    result = CliRunner().invoke(main, ["train", "--dataroot", str(data), "--out", str(tmp_path),
                                       "--device", "cpu", "--cuda-graph", "--max-steps", "1"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: --cuda-graph: device 'numpy' runs no kernels")


def test_cuda_graph_with_sync_bn_is_refused_in_one_line(run, tmp_path):
    data, _ = run
    result = CliRunner().invoke(main, ["train", "--dataroot", str(data), "--out", str(tmp_path),
                                       "--device", "emu", "--cuda-graph", "--sync-bn"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: --cuda-graph True: cannot be used with --sync-bn")
    assert len(result.output.splitlines()) == 1


@pytest.mark.parametrize("device", ["cpu", "emu"])
def test_train_runs_a_resnet_generator_and_translate_uses_it(run, tmp_path, device):
    if device == "emu" and "emu" not in backend.available_backends():
        pytest.skip("backend emu unavailable")
    data, _ = run
    result = CliRunner().invoke(main, [
        "train", "--dataroot", str(data), "--out", str(tmp_path), "--name", "res", "--netG",
        "resnet_9blocks", "--n-blocks", "1", "--ngf", "2", "--ndf", "2", "--load-size", "32",
        "--crop-size", "32", "--max-steps", "2", "--print-freq", "1", "--sample-freq", "2",
        "--inspect-freq", "2", "--device", device])
    assert result.exit_code == 0, result.output
    assert "resnet_9blocks" in result.output and "stopped at step 2" in result.output
    result = CliRunner().invoke(main, ["inspect", "activations", "--checkpoint",
                                       str(tmp_path / "res"), str(data / "test" / "0.png"),
                                       "--out", str(tmp_path / "inside"), "--device", device])
    assert result.exit_code == 0, result.output
    assert "G.model.3" in (tmp_path / "inside" / "index.html").read_text()   # its first ReLU
    result = CliRunner().invoke(main, ["translate", "--checkpoint", str(tmp_path / "res"),
                                       str(data / "test" / "0.png"), "--out",
                                       str(tmp_path / "out"), "--device", device])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out" / "0.png").size == (64, 32)   # the AB file as is
