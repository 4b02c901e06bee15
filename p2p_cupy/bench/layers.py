"""`p2p bench layers`: every conv, transposed conv and batch-norm shape of U-Net-256 and
the PatchGAN, timed alone: forward, input gradient (dx), and the whole backward (dx and
the parameter gradients), ours against torch's functional ops on the same weights.

The layers are found by tracing one forward pass of the real models
(p2p_cupy.inspection.cost.trace), so the shapes are those that train. Layers of equal
shape (G's 512-channel levels) are timed once; `count` says how many share it.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend
from p2p_cupy.bench import machine, timing
from p2p_cupy.bench.step import num_downs_for
from p2p_cupy.inspection.cost import trace
from p2p_cupy.models import define_D, define_G

TIMED_OPS = ("Conv2d", "ConvTranspose2d", "BatchNorm2d")


def unique_layers(size: int, batch_size: int, bk):
    """[(row, module, count)] for each distinct timed layer shape of G then D."""
    G = define_G(f"unet_{size}", num_downs=num_downs_for(size))
    D = define_D("basic", seed=1)
    rng = np.random.default_rng(0)
    a = bk.asarray(rng.standard_normal((batch_size, 3, size, size), dtype=np.float32))
    found = {}
    for model, x in ((G, a), (D, bk.xp.concatenate([a, a], axis=1))):
        modules = dict(model.named_modules())
        for row in trace(model, x):
            if row.op in TIMED_OPS:
                key = (row.op, row.in_shape, row.out_shape)
                name = ("G." if model is G else "D.") + row.name
                if key in found:
                    found[key][2] += 1
                else:
                    found[key] = [row, modules[row.name], 1, name]
    return [(row, module, count, name) for row, module, count, name in found.values()]


def ours_calls(layer, x, dy):
    """forward / dx / dx+dw callables of one of our layers (backward uses the cache of the
    last forward, which every forward call refreshes with the same input)."""
    def input_grad():
        layer.requires_grad = False
        layer.backward(dy)

    def both_grads():
        layer.requires_grad = True
        layer.backward(dy)
    return {"forward": lambda: layer.forward(x), "input_grad": input_grad,
            "both_grads": both_grads}


def torch_calls(torch, layer, x, dy, device):
    """The same three for torch.nn.functional on copies of the layer's weights."""
    F = torch.nn.functional
    bk = backend.current()

    def tensor(a, grad):
        return torch.tensor(bk.to_numpy(a), device=device, requires_grad=grad)
    xt, dyt = tensor(x, True), tensor(dy, False)
    weight = tensor(layer.weight.data, True)
    bias = tensor(layer.bias.data, True) if layer.bias is not None else None
    if type(layer).__name__ == "BatchNorm2d":
        mean = torch.zeros(layer.num_features, device=device)
        var = torch.ones(layer.num_features, device=device)

        def forward():
            return F.batch_norm(xt, mean, var, weight, bias, True, layer.momentum, layer.eps)
    else:
        op = F.conv2d if type(layer).__name__ == "Conv2d" else F.conv_transpose2d

        def forward():
            return op(xt, weight, bias, layer.stride, layer.padding)
    y = forward()
    params = [p for p in (weight, bias) if p is not None]
    return {"forward": forward,
            "input_grad": lambda: torch.autograd.grad(y, [xt], dyt, retain_graph=True),
            "both_grads": lambda: torch.autograd.grad(y, [xt, *params], dyt,
                                                      retain_graph=True)}


def bench_layers(device="cpu", batch_size=1, size=256, repeats=5, compare=None) -> dict:
    with backend.using(device) as bk:
        torch = None
        if compare == "torch":
            from p2p_cupy.bench.torch_ref import import_torch, torch_device, torch_sync
            torch = import_torch()
            t_dev = torch_device(torch, bk.name)
        rows = []
        for row, layer, count, name in unique_layers(size, batch_size, bk):
            rng = np.random.default_rng(1)
            x = bk.asarray(rng.standard_normal(row.in_shape, dtype=np.float32))
            dy = bk.asarray(rng.standard_normal(row.out_shape, dtype=np.float32))
            layer.train()
            calls = {f"ours.{k}": fn for k, fn in ours_calls(layer, x, dy).items()}
            syncs = {"ours": bk.synchronize}
            if torch is not None:
                calls.update({f"torch.{k}": fn for k, fn in
                              torch_calls(torch, layer, x, dy, t_dev).items()})
                syncs["torch"] = lambda: torch_sync(torch, t_dev)
            times = timing.interleaved(calls, 1, repeats,
                                       sync=lambda key: syncs[key.split(".")[0]]())
            result = {"name": name, "op": row.op, "in_shape": list(row.in_shape),
                      "out_shape": list(row.out_shape), "count": count,
                      "flops": row.flops}
            for key, seconds in times.items():
                side, what = key.split(".")
                result.setdefault(side, {})[f"{what}_ms"] = timing.summary(seconds)["median_ms"]
            rows.append(result)
        return {"kind": "layers", "device": bk.name,
                "config": {"batch_size": batch_size, "size": size, "repeats": repeats,
                           "compare": compare},
                "machine": machine.info(bk, torch), "rows": rows}
