"""`p2p export --format onnx`: the written file, run by onnxruntime (a runtime nobody here
wrote), gives our eval-mode translation to 1e-5 in float32, for U-Net and ResNet
generators, at several batch sizes and image sizes (the axes are dynamic)."""
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from p2p_cupy import backend
from p2p_cupy.cli.main import main
from p2p_cupy.errors import P2PError
from p2p_cupy.models import define_G
from p2p_cupy.evaluation import inference
from p2p_cupy.train import checkpoint
from p2p_cupy.train.build import networks_from_options
from p2p_cupy.train.options import TrainOptions

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

TOLERANCE = 1e-5
GENERATORS = {   # TrainOptions of small generators; each with the operators it must use
    "unet_32-batch": (dict(netG="unet_32", ngf=4), {"Concat", "BatchNormalization",
                                                    "LeakyRelu", "ConvTranspose", "Tanh"}),
    "unet_32-instance": (dict(netG="unet_32", ngf=4, norm="instance"),
                         {"Concat", "InstanceNormalization"}),
    "resnet-batch": (dict(netG="resnet_6blocks", n_blocks=2, ngf=4),
                     {"Pad", "Add", "BatchNormalization", "ConvTranspose", "Relu"}),
    "resnet-instance": (dict(netG="resnet_9blocks", n_blocks=1, ngf=4, norm="instance"),
                        {"Pad", "Add", "InstanceNormalization"}),
}


def trained_looking(G, rng):
    """Weights of a trained scale (fan-in init, BN statistics away from 0 and 1): at the
    N(0, 0.02) init the outputs are ~0 and any export would look right."""
    for name, p in G.named_parameters():
        shape = p.data.shape
        if len(shape) == 4:                                   # conv weights
            p.data[...] = rng.normal(0, 1.5 / np.sqrt(np.prod(shape[1:])), shape)
        else:                                                 # norm gammas ~1, biases ~0
            p.data[...] = rng.normal(1.0 if name.endswith("weight") else 0.0, 0.3, shape)
    for _, mod, short, b in G.named_buffers():
        if short == "running_mean":
            mod.set_buffer(short, rng.normal(0, 0.3, b.shape).astype(np.float32))
        elif short == "running_var":
            mod.set_buffer(short, rng.uniform(0.5, 2.0, b.shape).astype(np.float32))
    return G


@pytest.fixture(params=list(GENERATORS))
def exported(request, tmp_path):
    """(checkpoint .npz, exported .onnx, operators it must hold) via `p2p export`."""
    options, operators = GENERATORS[request.param]
    opts = TrainOptions(**options)
    with backend.using("numpy"):
        G = trained_looking(networks_from_options(opts)[0], np.random.default_rng(3))
        ckpt = checkpoint.save_checkpoint(tmp_path, "model", {"options": opts.to_dict(),
                                                              "G": G.state_dict()})
    out = tmp_path / "onnx" / "model.onnx"
    result = CliRunner().invoke(main, ["export", str(ckpt), "--format", "onnx", "--out",
                                       str(out)])
    assert result.exit_code == 0, result.output
    assert f"-> {out}: {opts.netG}" in result.output
    assert "verified with onnxruntime" in result.output
    return ckpt, out, operators


def test_onnxruntime_runs_the_export_like_our_eval_translation(bk, exported):
    ckpt, out, operators = exported
    model = onnx.load(str(out))
    assert operators <= {node.op_type for node in model.graph.node}
    assert not {"Dropout", "Identity"} & {n.op_type for n in model.graph.node[:-1]}
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    G, _ = inference.load_generator(ckpt, eval_mode=True)
    rng = np.random.default_rng(0)
    for shape in [(1, 3, 32, 32), (3, 3, 64, 32)]:          # batch, height, width all vary
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        theirs = session.run(["output"], {"input": x})[0]
        ours = inference.translate(G, x)
        assert theirs.shape == ours.shape == shape
        assert ours.std() > 0.1                              # a real signal, not ~0
        assert np.abs(theirs - ours).max() <= TOLERANCE


def test_an_export_that_onnxruntime_disagrees_with_is_refused_and_not_written(
        exported, monkeypatch):
    """The check can fail: a Tanh exported as Sigmoid is caught, and neither the new file
    nor a temporary one is left; the earlier export at the same path stays."""
    from p2p_cupy import nn
    from p2p_cupy.interop import onnx_export
    ckpt, out, _ = exported
    before = out.read_bytes()
    monkeypatch.setitem(onnx_export.EMITTERS, nn.Tanh,
                        lambda b, layer, x: b.node("Sigmoid", [x]))
    result = CliRunner().invoke(main, ["export", str(ckpt), "--out", str(out)])
    assert result.exit_code == 1 and "onnxruntime's output differs from ours" in result.output
    assert out.read_bytes() == before and sorted(p.name for p in out.parent.iterdir()) == \
        ["model.onnx"]


def test_export_without_the_onnx_package_says_how_to_install_it(monkeypatch):
    from p2p_cupy.interop.onnx_export import generator_to_onnx
    monkeypatch.setitem(sys.modules, "onnx", None)            # import onnx -> ImportError
    with pytest.raises(P2PError, match=r'pip install "p2p-cupy\[export\]"'):
        generator_to_onnx(define_G("unet_32", ngf=2))


def test_export_of_a_folder_without_a_run_is_one_line_error(tmp_path):
    result = CliRunner().invoke(main, ["export", str(tmp_path), "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 1 and result.output.startswith("Error: ")
    assert "no checkpoint found" in result.output and not (tmp_path / "m.onnx").exists()
