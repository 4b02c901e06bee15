"""The cost of a model, measured on the model itself: one row per layer.

We run one real forward pass with a forward hook on every leaf layer, so the shapes,
parameter counts and FLOPs come from the objects that train, not from a table typed by hand.

FLOPs count 2 per multiply-add of the convolutions, padded taps included (the GEMM work;
norms and activations are a few operations per element and are left out, as in
docs/DESIGN.md, "The cost model"):
    Conv2d           2 * N * Cout * Ho * Wo * Cin * k * k
    ConvTranspose2d  2 * N * Cin  * H  * W  * Cout * k * k
A training iteration is then, with F = forward FLOPs and F1 = the first conv's:
    G forward F_G; D forward 3 F_D (fake and real for the D step, fake again for the G step);
    D-step backward 2 * (2 F_D - F1_D) (weight and input grads; the input grad of D's first
    conv is not needed); D input grads in the G step F_D; G backward 2 F_G - F1_G.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from p2p_cupy import nn


@dataclass
class LayerRow:
    name: str
    op: str
    in_shape: tuple
    out_shape: tuple
    params: int
    flops: int
    activation_bytes: int
    receptive_field: Optional[int] = None

    def as_dict(self):
        return asdict(self)


def conv_flops(layer, in_shape, out_shape) -> int:
    """Forward multiply-adds x 2 of a conv layer (0 for any other layer)."""
    k2 = layer.kernel_size ** 2 if hasattr(layer, "kernel_size") else 0
    if isinstance(layer, nn.ConvTranspose2d):
        n, cin, h, w = in_shape
        return 2 * n * cin * h * w * layer.out_channels * k2
    if isinstance(layer, nn.Conv2d):
        n, cout, ho, wo = out_shape
        return 2 * n * cout * ho * wo * layer.in_channels * k2
    return 0


@contextlib.contextmanager
def watching_leaves(model, on_forward):
    """Within the block, every leaf layer's forward (or forward_into, which writes into a
    planned buffer) also calls on_forward(name, layer, x, y), once per call from outside.

    Forward hooks (Module.add_forward_hook), removed on exit: the model is unchanged
    afterwards, and nothing is copied or recomputed.
    """
    handles = [layer.add_forward_hook(lambda layer, x, y, name=name: on_forward(name, layer, x, y))
               for name, layer in model.named_leaves()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def trace(model, x) -> list:
    """LayerRow per leaf layer, in execution order, from one forward pass on x."""
    rows = []

    def record(name, layer, inp, out):
        rows.append(LayerRow(
            name, type(layer).__name__, tuple(inp.shape), tuple(out.shape),
            int(sum(p.data.size for p in layer.parameters())),
            conv_flops(layer, inp.shape, out.shape), int(out.nbytes)))

    with watching_leaves(model, record):
        model.forward(x)
    return rows


def add_receptive_fields(rows):
    """Receptive field of each layer's output on the input: r += (k - 1) * jump; jump *= s."""
    r, jump = 1, 1
    for row, layer in rows:
        if hasattr(layer, "kernel_size"):
            r += (layer.kernel_size - 1) * jump
            jump *= layer.stride
        row.receptive_field = r


def model_cost(G, D, size=256, batch_size=1, input_nc=3, output_nc=3, dtype=np.float32):
    """Per-layer rows of G and D and the totals of the cost model (docs/DESIGN.md,
    "The cost model")."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch_size, input_nc, size, size)).astype(dtype)
    g_rows = trace(G, a)
    fake = np.zeros((batch_size, output_nc, size, size), dtype)
    d_rows = trace(D, np.concatenate([a, fake], axis=1))
    modules = dict(D.named_modules())
    add_receptive_fields([(row, modules[row.name]) for row in d_rows])

    def first_conv(rows):
        return next(row.flops for row in rows if row.flops)

    g_fwd = sum(row.flops for row in g_rows)
    d_fwd = sum(row.flops for row in d_rows)
    parts = {
        "G forward": g_fwd,
        "D forward x3": 3 * d_fwd,
        "D-step backward": 2 * (2 * d_fwd - first_conv(d_rows)),
        "D input grads (G step)": d_fwd,
        "G backward": 2 * g_fwd - first_conv(g_rows),
    }
    totals = {
        "G_params": G.num_parameters(), "D_params": D.num_parameters(),
        "G_forward_flops": g_fwd, "D_forward_flops": d_fwd,
        "iteration_flops": sum(parts.values()), "iteration_parts": parts,
        "D_receptive_field": d_rows[-1].receptive_field,
        "D_output_shape": d_rows[-1].out_shape,
        "G_activation_bytes": sum(row.activation_bytes for row in g_rows),
        "D_activation_bytes": sum(row.activation_bytes for row in d_rows),
    }
    return g_rows, d_rows, totals
