"""`p2p inspect activations`: one AB pair through a trained run, seen from inside.

For the pair (A, B) and the run's latest checkpoint it writes to OUT:
    patchmap.png         D's patch map, sigmoid of its logits, as a heat map over the real
                         B and over G(A): where D believes the picture is real or fake
    features_<net>_<layer>.png   the channels of chosen activations, as a grid
    stats.json           per-layer activation statistics and gradient norms, the losses
    index.html           all of it on one page

The networks run in training mode, as during training (batch statistics, dropout on).
The gradient norms come from one real training iteration on the pair, with the run's
Adam states (the updated weights are thrown away: the checkpoint is only read).
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
from PIL import Image

from p2p_cupy import backend
from p2p_cupy.data import transforms
from p2p_cupy.data.images import read_image, to_chw, to_uint8_image
from p2p_cupy.errors import P2PError
from p2p_cupy.inspection import pictures, probes
from p2p_cupy.ops.concat import concat_forward
from p2p_cupy.output_paths import check_output
from p2p_cupy.safe_files import write_png_atomically, write_text_atomically
from p2p_cupy.train import checkpoint, expected
from p2p_cupy.train.build import adams, networks_from_options
from p2p_cupy.train.step import train_step

MAX_MAPS = 64          # channels drawn per feature-map grid


def load_run(run_dir):
    """(opts, G, D, opt_G, opt_D) of a run's latest checkpoint, on the current backend,
    built the way the training builds them (p2p_cupy/train/build.py)."""
    ckpt = checkpoint.CheckpointFile(checkpoint.latest_checkpoint(run_dir))
    opts = expected.saved_options(ckpt)
    G, D = networks_from_options(opts)
    opt_G, opt_D = adams(opts, G, D)
    state = ckpt.load(expected.networks_spec(G, D))
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    opt_G.load_state_dict(state["opt_G"])
    opt_D.load_state_dict(state["opt_D"])
    return opts, G, D, opt_G, opt_D


def load_pair(path, opts):
    """An AB image (A left, B right) as (input, target), each (1, C, H, W) in [-1, 1],
    preprocessed as the run's test images are (resized to the crop size, no jitter)."""
    ab = read_image(path)
    w, h = ab.size
    if w % 2:
        raise ValueError(f"{path}: AB image width {w} is odd; expected A and B of equal "
                         "width side by side")
    p = transforms.Preprocess.from_options(opts).for_testing()
    a, b = (transforms.apply(half, p, transforms.Params())
            for half in (ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, w, h))))
    if opts.direction == "BtoA":
        a, b = b, a
    return to_chw(a)[None], to_chw(b)[None]


def default_layers(G, D) -> list:
    """An early, the deepest and the last activation of G; D's first and last."""
    d_acts = [name for name, m in D.named_modules() if type(m).__name__ == "LeakyReLU"]
    d_layers = [f"D.{d_acts[0]}", f"D.{d_acts[-1]}"]
    if not hasattr(G, "num_downs"):   # a ResNet: its first ReLU, the middle block's, the last
        g_acts = [name for name, m in G.named_modules() if type(m).__name__ == "ReLU"]
        return [f"G.{g_acts[i]}" for i in (0, len(g_acts) // 2, -1)] + d_layers
    return ["G.act2", f"G.act{G.num_downs}", "G.dec1.0"] + d_layers


def split_layers(layers) -> dict:
    """["G.act2", "D.1"] -> {"G": ["act2"], "D": ["1"]}."""
    chosen = {"G": [], "D": []}
    for spec in layers:
        net, _, name = spec.partition(".")
        if net not in chosen or not name:
            raise ValueError(f"--layers: {spec!r} should be G.<layer> or D.<layer>, e.g. G.act2")
        chosen[net].append(name)
    return chosen


def inspect_pair(run_dir, image_path, out_dir, layers=None) -> dict:
    """Write the pictures, stats.json and index.html to out_dir; returns the stats."""
    bk = backend.current()
    opts, G, D, opt_G, opt_D = load_run(run_dir)
    host_A, host_B = load_pair(image_path, opts)
    if host_A.shape[1] != G.input_nc:
        raise ValueError(f"{image_path}: A has {host_A.shape[1]} channels, the run's "
                         f"generator takes {G.input_nc}")
    chosen = split_layers(layers or default_layers(G, D))
    out = Path(out_dir)
    chosen_files = {net: {name: f"features_{net}_{name.replace('.', '_')}.png"
                          for name in chosen[net]} for net in ("G", "D")}
    for file in ("patchmap.png", "stats.json", "index.html",
                 *(f for files in chosen_files.values() for f in files.values())):
        check_output(out / file, [image_path])
    out.mkdir(parents=True, exist_ok=True)
    real_A, real_B = bk.asarray(host_A), bk.asarray(host_B)

    if opts.unconditional_D:      # the patch maps below judge the (A, B) pair
        raise P2PError(f"{run_dir}: trained with an unconditional D (--unconditional-D); "
                       "inspect activations reads a conditional D's patch maps")
    fake_B, g_stats, g_maps = probes.run_recording(G, real_A, chosen["G"])
    real_logits = D.forward(concat_forward([real_A, real_B])[0])
    fake_logits, d_stats, d_maps = probes.run_recording(
        D, concat_forward([real_A, fake_B])[0], chosen["D"])
    prob_real = probes.patch_probability(real_logits, opts.gan_mode)[0]
    prob_fake = probes.patch_probability(fake_logits, opts.gan_mode)[0]

    losses, _ = train_step(G, D, opt_G, opt_D, real_A, real_B, opts.gan_mode, opts.lambda_l1,
                           opts.lambda_gan, gp_alpha=np.full(real_A.shape[0], 0.5),
                           lambda_gp=opts.lambda_gp)     # wgangp: the midpoints
    stats = {
        "checkpoint": str(checkpoint.latest_checkpoint(run_dir)), "image": str(image_path),
        "losses": {k: float(bk.to_numpy(v)) for k, v in losses.items()},
        "patch_map": {"mean_real": float(prob_real.mean()), "mean_fake": float(prob_fake.mean()),
                      **probes.patch_accuracy(prob_real, prob_fake)},
        "activations": {"G": [s.as_dict() for s in g_stats], "D": [s.as_dict() for s in d_stats]},
        "grad_norms": {net: [dict(zip(("layer", "op", "grad_norm", "weight_norm"), row))
                             for row in probes.layer_grad_norms(model)]
                       for net, model in (("G", G), ("D", D))},
    }
    images = [to_uint8_image(a[0]) for a in (host_A, host_B, bk.to_numpy(fake_B))]
    write_png_atomically(out / "patchmap.png", Image.fromarray(
        pictures.patch_map_panel(*images, prob_real, prob_fake)))
    grids = []
    for net, maps in (("G", g_maps), ("D", d_maps)):
        for name, file in chosen_files[net].items():
            write_png_atomically(out / file, Image.fromarray(
                pictures.feature_grid(maps[name][0], MAX_MAPS)))
            grids.append((f"{net}.{name}", maps[name].shape[1:], file))
    write_text_atomically(out / "stats.json", json.dumps(stats, indent=1))
    write_text_atomically(out / "index.html", page(stats, grids))
    return stats


# --- index.html ---------------------------------------------------------------------------
def _fmt(v) -> str:
    return "" if v is None else f"{v:.3g}" if isinstance(v, float) else html.escape(str(v))


def _table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def grad_table(rows) -> str:
    """Gradient norms with a bar on a log scale (1e-8 .. 1e2), to spot vanishing layers."""
    def bar(g):
        width = 0 if g <= 0 else min(300, max(1, 30 * (np.log10(g) + 8)))
        return f'<span class="bar" style="width:{width:.0f}px"></span>'
    return _table(("layer", "op", "||grad||", "||W||", "||grad|| / ||W||", "log-scale"),
                  [(html.escape(r["layer"]), r["op"], _fmt(r["grad_norm"]), _fmt(r["weight_norm"]),
                    _fmt(r["grad_norm"] / r["weight_norm"] if r["weight_norm"] else None),
                    bar(r["grad_norm"])) for r in rows])


def activation_table(rows) -> str:
    return _table(("layer", "op", "shape", "mean", "std", "zeros (ReLU)", "saturated (tanh)"),
                  [(html.escape(r["name"]), r["op"], "x".join(map(str, r["shape"])),
                    _fmt(r["mean"]), _fmt(r["std"]), _fmt(r["zero_fraction"]),
                    _fmt(r["saturated_fraction"])) for r in rows])


def page(stats, grids) -> str:
    pm = stats["patch_map"]
    losses = ", ".join(f"{k} {v:.4g}" for k, v in stats["losses"].items())
    figures = "".join(f'<figure><img src="{f}" alt="{html.escape(n)}"><figcaption>{html.escape(n)}'
                      f' ({"x".join(map(str, shape))}; channels 1 to {min(shape[0], MAX_MAPS)})'
                      '</figcaption></figure>' for n, shape, f in grids)
    return PAGE.format(
        image=html.escape(stats["image"]), checkpoint=html.escape(stats["checkpoint"]),
        summary=(f"mean P(real) on (A, B) {pm['mean_real']:.3f}, on (A, G(A)) "
                 f"{pm['mean_fake']:.3f}; D correct on {pm['D_acc_real']:.0%} of the real and "
                 f"{pm['D_acc_fake']:.0%} of the fake patches"),
        losses=html.escape(losses), figures=figures,
        g_grads=grad_table(stats["grad_norms"]["G"]), d_grads=grad_table(stats["grad_norms"]["D"]),
        g_acts=activation_table(stats["activations"]["G"]),
        d_acts=activation_table(stats["activations"]["D"]))


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>p2p inspect activations</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1300px; }}
h2 {{ font-size: 18px; margin-top: 28px; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ text-align: left; padding: 1px 12px 1px 0; }}
.bar {{ display: inline-block; height: 10px; background: #1f6fb2; }}
figure {{ display: inline-block; margin: 0 16px 16px 0; vertical-align: top; }}
figure img {{ max-width: 600px; border: 1px solid #ccc; }}
figcaption {{ font-size: 13px; color: #555; }}
</style></head><body>
<h1>Inside the networks on {image}</h1>
<p>checkpoint {checkpoint}; networks in training mode, as during training.</p>
<h2>Discriminator patch map</h2>
<p>Each logit of the PatchGAN judges one patch of the pair; the heat map is the sigmoid of
the logits (D's probability that the patch is real), upsampled over the image. {summary}.</p>
<img src="patchmap.png" alt="patch map">
<h2>Gradient norms of one training iteration</h2>
<p>Losses of that iteration: {losses}. Norms over each layer's parameters; a layer whose
gradient is orders of magnitude below its neighbours' is not learning.</p>
<h3>Generator</h3>{g_grads}
<h3>Discriminator (D step)</h3>{d_grads}
<h2>Feature maps</h2>
{figures}
<h2>Activation statistics (G on A, D on (A, G(A)))</h2>
<h3>Generator</h3>{g_acts}
<h3>Discriminator</h3>{d_acts}
</body></html>
"""
