"""`p2p inspect ...`: look inside the model (its cost and shapes, layer by layer)."""
import json
from pathlib import Path

import click

from p2p_cupy.backend import DEVICES, BackendUnavailable
from p2p_cupy.cli.common import fmt_count, fmt_shape


@click.group()
def inspect():
    """Look inside: per-layer cost and shapes (model), a trained run on one pair
    (activations), the CUDA kernels' resources (kernels)."""


@inspect.command("model")
@click.option("--netG", "netG", default="unet_256", show_default=True,
              help="unet_256 | unet_128 | encoder_decoder_256 | encoder_decoder_128")
@click.option("--netD", "netD", default="basic", show_default=True, help="basic | n_layers | pixel")
@click.option("--n-layers-d", default=3, show_default=True, help="PatchGAN depth for --netD n_layers")
@click.option("--ngf", default=64, show_default=True)
@click.option("--ndf", default=64, show_default=True)
@click.option("--norm", default="batch", show_default=True, type=click.Choice(["batch", "instance", "none"]))
@click.option("--size", default=256, show_default=True, help="image height and width")
@click.option("--batch-size", default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of tables")
def model(netG, netD, n_layers_d, ngf, ndf, norm, size, batch_size, as_json):
    """One row per layer of G and D (name, op, shapes, parameters, forward FLOPs,
    activation bytes; receptive field for D) and the cost of one training iteration,
    measured by running one forward pass of the real model objects (on NumPy)."""
    from p2p_cupy import backend
    from p2p_cupy.inspection.cost import model_cost
    from p2p_cupy.models import define_D, define_G

    with backend.using("numpy"):
        try:
            G = define_G(netG, ngf=ngf, norm=norm)
            D = define_D(netD, ndf=ndf, n_layers_D=n_layers_d, norm=norm)
            g_rows, d_rows, totals = model_cost(G, D, size, batch_size)
        except ValueError as e:
            raise click.ClickException(str(e))
    if as_json:
        click.echo(json.dumps({"G": [r.as_dict() for r in g_rows],
                               "D": [r.as_dict() for r in d_rows], "totals": totals}, indent=1))
        return
    for title, rows in (("Generator " + netG, g_rows), ("Discriminator " + netD, d_rows)):
        click.echo(f"\n{title}")
        click.echo(f"{'layer':<14}{'op':<16}{'input':>18}{'output':>18}{'params':>12}"
                   f"{'GFLOP':>9}{'act MB':>9}{'RF':>5}")
        for r in rows:
            rf = "" if r.receptive_field is None else str(r.receptive_field)
            click.echo(f"{r.name:<14}{r.op:<16}{fmt_shape(r.in_shape):>18}"
                       f"{fmt_shape(r.out_shape):>18}{fmt_count(r.params):>12}"
                       f"{r.flops / 1e9:>9.3f}{r.activation_bytes / 2**20:>9.2f}{rf:>5}")
    t = totals
    click.echo(f"\nparameters: G {t['G_params']:,}  D {t['D_params']:,}")
    click.echo(f"forward: G {t['G_forward_flops'] / 1e9:.3f} GFLOP  D {t['D_forward_flops'] / 1e9:.3f} "
               f"GFLOP  (batch {batch_size}, {size}x{size})")
    click.echo(f"D receptive field: {t['D_receptive_field']}  D output: {fmt_shape(t['D_output_shape'])}")
    click.echo(f"one training iteration: {t['iteration_flops'] / 1e9:.2f} GFLOP")
    for part, flops in t["iteration_parts"].items():
        click.echo(f"  {part:<26}{flops / 1e9:>8.2f}")


@inspect.command("activations")
@click.option("--checkpoint", "run_dir", required=True,
              type=click.Path(exists=True, file_okay=False), help="The run folder.")
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_dir", required=True, help="Folder for index.html and the PNGs.")
@click.option("--layers", default=None,
              help="Comma-separated layers for feature-map grids, as G.<name> or D.<name> "
                   "(names as in `p2p inspect model`); default: G.act2, G's deepest and "
                   "last activations, D's first and last LeakyReLU.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
def activations(run_dir, image, out_dir, layers, device):
    """Look inside a trained run on one AB pair IMAGE: activation statistics, feature
    maps, gradient norms of one training iteration and D's patch map as a heat map."""
    from p2p_cupy import backend
    from p2p_cupy.inspection.activations import inspect_pair

    try:
        backend.set_backend(device)
        stats = inspect_pair(run_dir, image, out_dir,
                             layers.split(",") if layers else None)
    except (ValueError, BackendUnavailable) as e:
        raise click.ClickException(str(e)) from None
    pm = stats["patch_map"]
    click.echo(f"D's mean P(real): {pm['mean_real']:.3f} on (A, B), {pm['mean_fake']:.3f} on "
               f"(A, G(A)); wrote {Path(out_dir) / 'index.html'}")
