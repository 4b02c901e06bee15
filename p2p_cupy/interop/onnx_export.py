"""A trained generator as a standard ONNX graph, to deploy it without this project.

The graph is the generator in eval mode, what `p2p translate --eval` computes: batch norm
with its running statistics (BatchNormalization in inference form), no dropout. Each of our
layers becomes the ONNX operator of the same name and semantics:

    Conv2d -> Conv              ConvTranspose2d -> ConvTranspose (output_padding kept)
    BatchNorm2d -> BatchNormalization       InstanceNorm2d -> InstanceNormalization
    LeakyReLU, ReLU, Tanh, Sigmoid -> LeakyRelu, Relu, Tanh, Sigmoid
    ReflectionPad2d -> Pad (mode reflect)   Dropout, Identity -> nothing
and the wiring of the two generators: the U-Net's skips are Concat (channels), a residual
block's sum is Add. Input "input" and output "output" are NCHW float32 in [-1, 1] with
dynamic batch, height and width; heights and widths must be multiples of the model's
`size_multiple` (stored in the file's metadata). The graph is built with the `onnx`
package's helpers (`pip install "p2p-cupy[export]"`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from p2p_cupy import backend, nn
from p2p_cupy.errors import P2PError
from p2p_cupy.models import ResnetGenerator, UNetGenerator
from p2p_cupy.models.resnet import ResnetBlock

OPSET = 17          # onnxruntime 1.14+ and every current runtime run it


def require_onnx():
    """The onnx module, or a P2PError that says how to install it."""
    try:
        import onnx
    except ImportError:
        raise P2PError('ONNX export needs the onnx package: pip install "p2p-cupy[export]"') \
            from None
    return onnx


class GraphBuilder:
    """Nodes and weights of one graph, with a fresh name for every value."""

    def __init__(self, onnx):
        self.onnx, self.nodes, self.initializers, self.count = onnx, [], [], 0

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def weight(self, hint: str, array) -> str:
        """A float32 (or int64, for shapes) constant of the graph, by name."""
        name = self.fresh(hint)
        array = np.asarray(backend.of(array).to_numpy(array))
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list, **attributes) -> str:
        """Append op(inputs) with its attributes; returns the name of its output."""
        output = self.fresh(op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], **attributes))
        return output


# --- one emitter per layer type: (builder, layer, input name) -> output name ------------

def _conv(b, layer, x):
    k, p = layer.kernel_size, layer.padding
    inputs = [x, b.weight("weight", layer.weight.data)]
    if layer.bias is not None:
        inputs.append(b.weight("bias", layer.bias.data))
    attributes = dict(kernel_shape=[k, k], strides=[layer.stride] * 2, pads=[p, p, p, p])
    if isinstance(layer, nn.ConvTranspose2d):
        return b.node("ConvTranspose", inputs, output_padding=[layer.output_padding] * 2,
                      **attributes)
    return b.node("Conv", inputs, **attributes)


def _batch_norm(b, layer, x):
    return b.node("BatchNormalization", [
        x, b.weight("gamma", layer.weight.data), b.weight("beta", layer.bias.data),
        b.weight("running_mean", layer.running_mean), b.weight("running_var", layer.running_var)],
        epsilon=float(layer.eps))


def _instance_norm(b, layer, x):
    c = layer.num_features   # ONNX's InstanceNormalization always takes scale and bias
    scale = layer.weight.data if layer.affine else np.ones(c, np.float32)
    shift = layer.bias.data if layer.affine else np.zeros(c, np.float32)
    return b.node("InstanceNormalization", [x, b.weight("scale", scale),
                                            b.weight("shift", shift)], epsilon=float(layer.eps))


def _reflection_pad(b, layer, x):
    p = layer.padding   # pads: begin of N, C, H, W, then end of N, C, H, W
    return b.node("Pad", [x, b.weight("pads", np.array([0, 0, p, p, 0, 0, p, p], np.int64))],
                  mode="reflect")


def _sequential(b, seq, x):
    for layer in seq:
        x = emit(b, layer, x)
    return x


def _resnet_block(b, block, x):
    return b.node("Add", [x, _sequential(b, block.conv_block, x)])


def _unet(b, G, x):
    """UNetGenerator.forward's wiring: skip s_k = LeakyReLU(x_{k-1}), cat(s_{k+1}, u)."""
    n = G.num_downs
    h, skip = _sequential(b, G.enc1, x), {}
    for k in range(2, n + 1):
        skip[k] = emit(b, G.level("act", k), h)
        h = _sequential(b, G.level("enc", k), skip[k])
    u = _sequential(b, G.level("dec", n), h)
    for k in range(n - 1, 0, -1):
        if G.skips:
            u = b.node("Concat", [skip[k + 1], u], axis=1)
        u = _sequential(b, G.level("dec", k), u)
    return u


EMITTERS = {
    nn.Conv2d: _conv,
    nn.ConvTranspose2d: _conv,
    nn.BatchNorm2d: _batch_norm,
    nn.InstanceNorm2d: _instance_norm,
    nn.LeakyReLU: lambda b, layer, x: b.node("LeakyRelu", [x], alpha=float(layer.slope)),
    nn.ReLU: lambda b, layer, x: b.node("Relu", [x]),
    nn.Tanh: lambda b, layer, x: b.node("Tanh", [x]),
    nn.Sigmoid: lambda b, layer, x: b.node("Sigmoid", [x]),
    nn.Dropout: lambda b, layer, x: x,        # eval mode: the identity
    nn.Identity: lambda b, layer, x: x,
    nn.ReflectionPad2d: _reflection_pad,
    nn.Sequential: _sequential,
    ResnetBlock: _resnet_block,
    ResnetGenerator: lambda b, G, x: _sequential(b, G.model, x),
    UNetGenerator: _unet,
}


def emit(b, module, x):
    """The nodes computing module(x) in eval mode; returns the output's name."""
    emitter = EMITTERS.get(type(module))
    if emitter is None:
        raise P2PError(f"ONNX export: no ONNX form for {module!r}")
    return emitter(b, module, x)


def generator_to_onnx(G, description: str = ""):
    """The onnx.ModelProto of generator G in eval mode (G itself is left as it was)."""
    onnx = require_onnx()
    helper = onnx.helper
    b = GraphBuilder(onnx)
    output = emit(b, G, "input")
    b.nodes.append(helper.make_node("Identity", [output], ["output"]))
    tensor = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        b.nodes, "p2p_cupy_generator",
        [helper.make_tensor_value_info("input", tensor, ["batch", G.input_nc, "height", "width"])],
        [helper.make_tensor_value_info("output", tensor,
                                       ["batch", G.output_nc, "height", "width"])],
        b.initializers)
    model = helper.make_model(graph, producer_name="p2p-cupy",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.doc_string = description
    helper.set_model_props(model, {"size_multiple": str(G.size_multiple),
                                   "input_range": "[-1, 1]", "layout": "NCHW"})
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(G, out, description: str = "", verify: bool = True) -> dict:
    """Write G as ONNX to `out` (a .onnx path); returns a summary for the user, with the
    onnxruntime check's max difference under "verified" (None: not run). The file is
    written under a temporary name and renamed only once it passed: a failed export
    leaves no file, and an earlier one at `out` stays as it was."""
    onnx = require_onnx()
    model = generator_to_onnx(G, description)
    out = Path(out)
    tmp = out.with_name(f".tmp-{os.getpid()}-{out.name}")
    try:
        onnx.save(model, str(tmp))
        diff = verify_with_onnxruntime(G, tmp) if verify else None
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"nodes": len(model.graph.node), "opset": OPSET, "verified": diff,
            "operators": sorted({node.op_type for node in model.graph.node})}


VERIFY_TOLERANCE = 1e-4   # float32, on outputs in [-1, 1]


def verify_with_onnxruntime(G, path, seed=0):
    """max |onnxruntime(path) - G| (eval mode) on one random image, square, of a side the
    generator takes (its size_multiple, at least 32: a few seconds on a CPU for unet_256);
    None when onnxruntime is not installed. A P2PError when the two disagree by more than
    VERIFY_TOLERANCE."""
    try:
        import onnxruntime
    except ImportError:
        return None
    side = -(-32 // G.size_multiple) * G.size_multiple
    x = np.random.default_rng(seed).uniform(-1, 1, (1, G.input_nc, side, side))
    x = x.astype(np.float32)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = session.run(["output"], {"input": x})[0]
    bk = backend.current()
    training = G.training
    ours = bk.to_numpy(G.eval().forward(bk.asarray(x)))
    G.train(training)
    diff = float(np.abs(theirs - ours).max())
    if not diff <= VERIFY_TOLERANCE:
        raise P2PError(f"{path}: onnxruntime's output differs from ours by {diff:.1e} "
                       f"(more than {VERIFY_TOLERANCE:g})")
    return diff
