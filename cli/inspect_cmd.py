"""`p2p inspect ...`: look inside the model (its cost and shapes, layer by layer), a trained
run (activations, gradients, patch maps) and the CUDA kernels (resources, launches)."""
import json
from pathlib import Path

import click

from p2p_cupy.cli.common import device_option, fmt_count, fmt_shape, model_options


@click.group()
def inspect():
    """Look inside: per-layer cost and shapes (model), a trained run on one pair
    (activations), the CUDA kernels' resources (kernels)."""


@inspect.command("model")
@model_options
@click.option("--size", default=256, show_default=True, type=click.IntRange(1),
              help="image height and width")
@click.option("--batch-size", default=1, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of tables")
def model(size, batch_size, as_json, **model_values):
    """One row per layer of G and D (name, op, shapes, parameters, forward FLOPs,
    activation bytes; receptive field for D) and the cost of one training iteration,
    measured by running one forward pass of the real model objects (on NumPy). Takes the
    model options of `p2p train`."""
    from p2p_cupy import backend
    from p2p_cupy.inspection.cost import model_cost
    from p2p_cupy.train.build import networks_from_options
    from p2p_cupy.train.options import TrainOptions

    netG, netD = model_values["netG"], model_values["netD"]
    with backend.using("numpy"):
        G, D = networks_from_options(TrainOptions(**model_values))
        g_rows, d_rows, totals = model_cost(G, D, size, batch_size)
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
@device_option()
def activations(run_dir, image, out_dir, layers, device):
    """Look inside a trained run on one AB pair IMAGE: activation statistics, feature
    maps, gradient norms of one training iteration and D's patch map as a heat map."""
    from p2p_cupy import backend
    from p2p_cupy.inspection.activations import inspect_pair

    with backend.using(device):
        stats = inspect_pair(run_dir, image, out_dir, layers.split(",") if layers else None)
    pm = stats["patch_map"]
    click.echo(f"D's mean P(real): {pm['mean_real']:.3f} on (A, B), {pm['mean_fake']:.3f} on "
               f"(A, G(A)); wrote {Path(out_dir) / 'index.html'}")


@inspect.command("kernels")
@click.option("--source", type=click.Choice(["nvcc", "cupy"]), default="nvcc", show_default=True,
              help="nvcc: compile with `nvcc -Xptxas -v` (no GPU needed); cupy: the attributes "
                   "of the kernels as the cuda backend compiles them (needs a GPU).")
@click.option("--arch", default="sm_80", show_default=True, help="GPU architecture for nvcc.")
@click.option("--kernels-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of .cu files (default: the installed kernels/).")
@click.option("--shape", default="1x3x256x256", show_default=True,
              help="Batch NxCxHxW of the training iteration whose launches are listed.")
@model_options
@click.option("--no-launches", is_flag=True, help="Only the resources (skip the iteration).")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of tables")
def kernels(source, arch, kernels_dir, shape, no_launches, as_json, **model_values):
    """For each CUDA kernel: registers per thread, static shared memory, local memory and
    spills; then every launch configuration (grid, block, shared memory) that one training
    iteration of the models at --shape makes, recorded from the ops themselves (the
    iteration runs on the CPU with every kernel launch only noted: about a minute at the
    default size; --no-launches skips it), and the count of every device launch of that
    iteration: ours, cuBLAS GEMMs and CuPy's elementwise ops, fills and copies (in JSON:
    launches_per_iteration with that breakdown, and each by name)."""
    from p2p_cupy.inspection import kernels as kinfo

    try:
        dims = tuple(int(s) for s in shape.lower().split("x"))
        if len(dims) != 4 or min(dims) < 1:
            raise ValueError
    except ValueError:
        raise click.ClickException(f"--shape: expected NxCxHxW, e.g. 1x3x256x256, got {shape!r}")
    files = kinfo.kernel_files(kernels_dir or kinfo.KERNELS_DIR)
    measure = kinfo.nvcc_resources if source == "nvcc" else kinfo.cupy_resources
    rows = [r for f in files for r in (measure(f, arch) if source == "nvcc" else measure(f))]
    counter, launches = (None, {}) if no_launches else kinfo.training_launch_count(
        dims, **model_values)
    if as_json:
        report = {"resources": [r.as_dict() for r in rows], "launches": [
            {**vars(k), "threads": k.threads, "count": n} for k, n in launches.items()]}
        if counter is not None:
            report.update(counter.breakdown())
        click.echo(json.dumps(report, indent=1))
        return
    click.echo(f"{'file':<18}{'kernel':<30}{'arch':<7}{'regs':>5}{'smem B':>8}{'local B':>8}"
               f"{'spill st/ld B':>15}")
    for r in rows:
        spills = "n/a" if r.spill_stores is None else f"{r.spill_stores}/{r.spill_loads}"
        click.echo(f"{r.file:<18}{r.kernel:<30}{r.arch:<7}{r.registers:>5}{r.shared_bytes:>8}"
                   f"{r.local_bytes:>8}{spills:>15}")
    if not files:
        click.echo("(no .cu files found)")
    if no_launches:
        return
    click.echo(f"\nlaunches of one training iteration, {model_values['netG']} vs "
               f"{model_values['netD']}, batch {fmt_shape(dims)}:")
    if not launches:
        click.echo("(none: no op launches a CUDA kernel yet)")
    click.echo(f"{'kernel':<40}{'grid':>16}{'block':>12}{'smem B':>8}{'threads':>12}{'times':>7}")
    for k, n in sorted(launches.items(), key=lambda kv: (kv[0].kernel, kv[0].threads)):
        click.echo(f"{k.kernel:<40}{fmt_shape(k.grid):>16}{fmt_shape(k.block):>12}"
                   f"{k.shared_mem:>8}{k.threads:>12,}{n:>7}")
    b = counter.breakdown()
    click.echo(f"\ndevice launches per iteration: {b['launches_per_iteration']} (ours "
               f"{b['ours']}, GEMMs {b['gemm']}, CuPy elementwise {b['elementwise']}, fills "
               f"{b['fill']}, copies {b['copy']}); {b['allocations']} allocations")
