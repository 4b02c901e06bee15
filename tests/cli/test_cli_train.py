"""`p2p train`, `p2p test` and `p2p translate` on one tiny run, through click."""
import json

import numpy as np
import pytest
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
        (data / phase).mkdir(parents=True)
        for i in range(n):
            a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(data / phase / f"{i}.png")
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


def test_translate_accepts_any_multiple_of_32_and_names_the_nearest_valid_size(run, tmp_path):
    _, run_dir = run
    Image.fromarray(np.zeros((64, 96, 3), np.uint8)).save(tmp_path / "wide.png")
    Image.fromarray(np.zeros((50, 70, 3), np.uint8)).save(tmp_path / "odd.png")
    result = CliRunner().invoke(main, ["translate", "--checkpoint", str(run_dir),
                                       str(tmp_path / "wide.png"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "o" / "wide.png").size == (96, 64)
    result = CliRunner().invoke(main, ["translate", "--checkpoint", str(run_dir),
                                       str(tmp_path / "odd.png"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "70x50" in result.output and "nearest valid size is 64x64" in result.output


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
