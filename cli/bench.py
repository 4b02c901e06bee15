"""`p2p bench`: speed, ours against PyTorch (with --compare torch; torch is optional).

    p2p bench step   [--device auto] [--batch-size 1] [--size 256] [--iters 5] [--warmup 2]
                     [--compare torch] [--json OUT]
    mpiexec -n N p2p bench step --distributed   data parallel: step, compute, all-reduce
    p2p bench infer  generator forward, batch 1 and 16
    p2p bench layers every conv / transposed conv / batch-norm shape: fwd, dx, dx+dw
    p2p bench kernels each CUDA kernel alone at batch-16 shapes: CUDA-event time, GB/s, % of peak
    p2p bench quality the paper's ablations on synthetic facades at CPU scale (FCN-score)
    p2p bench model  a roofline prediction of the step on a GPU (--gpu h100|h200|a100), no GPU needed
    p2p bench report regenerate benchmarks/RESULTS.md from benchmarks/results/*.json

Each run prints a summary and saves its record to benchmarks/results/ (or --json OUT);
paths are relative to the current folder, so from the repository root they are its files.
"""
import sys

import click

from p2p_cupy.cli.common import device_option

DEVICE = device_option()
SIZE = click.option("--size", type=int, default=256, show_default=True,
                    help="image height and width (a power of 2)")
COMPARE = click.option("--compare", type=click.Choice(["torch"]), default=None,
                       help="also time PyTorch (p2p_cupy/bench/torch_reference.py)")
JSON_OUT = click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
                        help="where to save the record [benchmarks/results/<device>-<date>-"
                             "<kind>.json]")


def _save(record, json_out):
    from p2p_cupy.bench import results
    path = results.save(results.stamp(record), json_out)
    click.echo(f"saved {path}")


def _fmt(stats) -> str:
    return (f"{stats['median_ms']:9.1f} ms  [min {stats['min_ms']:.1f}, "
            f"max {stats['max_ms']:.1f}]")


@click.group()
def bench():
    """Benchmarks: training step, inference and layers, ours vs PyTorch."""


@bench.command()
@DEVICE
@click.option("--batch-size", type=int, default=1, show_default=True)
@SIZE
@click.option("--iters", type=int, default=5, show_default=True, help="timed iterations")
@click.option("--warmup", type=int, default=2, show_default=True, help="untimed iterations")
@COMPARE
@click.option("--keep-freed-memory", is_flag=True,
              help="set glibc's malloc to keep freed blocks, as `p2p train` does "
                   "(p2p_cupy/host_memory.py); process-wide, so PyTorch runs with it too")
@click.option("--cuda-graph/--no-cuda-graph", "cuda_graph", default=None,
              help="time steps replayed from one capture (a CUDA graph on cuda, the default "
                   "there; the recorded launches on emu); warm-up needs 2 steps for it")
@click.option("--distributed", is_flag=True,
              help="under `mpiexec -n N`: a data-parallel iteration (--batch-size per "
                   "process), timed whole, without its gradient all-reduces and the "
                   "all-reduces alone (eager steps: their all-reduces are not capturable)")
@JSON_OUT
def step(device, batch_size, size, iters, warmup, compare, keep_freed_memory, cuda_graph,
         distributed,
         json_out):
    """Full training iterations (G forward, three D passes, both backwards, both Adams)."""
    from p2p_cupy import host_memory
    from p2p_cupy.bench.step import bench_step
    if iters < 1 or warmup < 0 or batch_size < 1:
        raise click.BadParameter("need --iters >= 1, --warmup >= 0 and --batch-size >= 1")
    if keep_freed_memory and not host_memory.keep_freed_memory():
        raise click.ClickException("--keep-freed-memory: this system has no glibc malloc")
    if distributed:
        if compare:
            raise click.BadParameter("--distributed times ours only (no --compare)")
        if cuda_graph:
            raise click.BadParameter("--distributed steps are eager (their all-reduces run "
                                     "on the host): no --cuda-graph")
        return _distributed_step(device, batch_size, size, iters, warmup, json_out)
    r = bench_step(device, batch_size, size, iters, warmup, compare, cuda_graph=cuda_graph)
    graph = ", CUDA graph" if r["config"]["cuda_graph"] else ""
    click.echo(f"training iteration{graph}, batch {batch_size}, {size}x{size}, {r['device']}, "
               f"malloc {r['config']['malloc']}, {iters} timed after {warmup} warm-up; "
               f"{r['iteration_flops'] / 1e9:.2f} GFLOP/iteration, "
               f"matmul peak {r['matmul_peak_gflops']:.0f} GFLOP/s")
    for name in ("ours", "torch"):
        if name in r:
            s = r[name]
            click.echo(f"  {name:5s} {_fmt(s)}  {s['images_per_s']:.2f} img/s  "
                       f"{s['gflops']:.1f} GFLOP/s ({s['percent_of_peak']:.0f}% of peak)")
    if "ratio" in r:
        per = r["ratio_per_round"]
        click.echo(f"  ratio ours/torch {r['ratio']:.3f} (per round: median {per['median']:.3f},"
                   f" min {per['min']:.3f}, max {per['max']:.3f})")
    _save(r, json_out)


def _distributed_step(device, batch_size, size, iters, warmup, json_out):
    from p2p_cupy.bench.distributed import PARTS, bench_distributed_step
    r = bench_distributed_step(device, batch_size, size, iters, warmup)
    if r.pop("rank") != 0:
        return
    click.echo(f"data-parallel training iteration, {r['ranks']} processes x batch "
               f"{batch_size} = global batch {r['config']['global_batch']}, {size}x{size}, "
               f"{r['device']}, {iters} timed after {warmup} warm-up; "
               f"{r['allreduce_bytes'] / 1e6:.1f} MB all-reduced per step")
    for name in PARTS:
        click.echo(f"  {name:10s} {_fmt(r[name])}")
    click.echo(f"  {r['images_per_s']:.2f} img/s; scaling efficiency (compute / step) "
               f"{100 * r['scaling_efficiency']:.0f}%; all-reduce alone "
               f"{100 * r['allreduce_share']:.0f}% of a step; bus bandwidth "
               f"{r['allreduce_bus_gb_per_s']:.2f} GB/s")
    _save(r, json_out)


@bench.command()
@DEVICE
@click.option("--batch-sizes", default="1,16", show_default=True,
              help="comma-separated batch sizes")
@SIZE
@click.option("--iters", type=int, default=5, show_default=True)
@click.option("--warmup", type=int, default=1, show_default=True)
@COMPARE
@JSON_OUT
def infer(device, batch_sizes, size, iters, warmup, compare, json_out):
    """Generator forward in eval mode (what `p2p translate` runs)."""
    from p2p_cupy.bench.infer import bench_infer
    sizes = tuple(int(b) for b in batch_sizes.split(","))
    r = bench_infer(device, sizes, size, iters, warmup, compare)
    for row in r["rows"]:
        line = f"batch {row['batch_size']:3d}: ours {_fmt(row['ours'])}"
        if "torch" in row:
            line += f" | torch {_fmt(row['torch'])} | ratio {row['ratio']:.3f}"
        click.echo(line)
    _save(r, json_out)


@bench.command()
@DEVICE
@click.option("--batch-size", type=int, default=1, show_default=True)
@SIZE
@click.option("--repeats", type=int, default=5, show_default=True)
@COMPARE
@JSON_OUT
def layers(device, batch_size, size, repeats, compare, json_out):
    """Each conv / transposed conv / batch-norm shape: forward, dx, dx+dw (median ms)."""
    from p2p_cupy.bench.layers import bench_layers
    r = bench_layers(device, batch_size, size, repeats, compare)
    total = {}
    click.echo(f"{'layer':24s} {'op':16s} {'input':18s} count  fwd  dx  dx+dw (ms)"
               + ("   | torch fwd  dx  dx+dw" if compare else ""))
    for row in r["rows"]:
        line = f"{row['name']:24s} {row['op']:16s} {'x'.join(map(str, row['in_shape'])):18s} "
        line += f"{row['count']:3d}"
        for side in ("ours", "torch"):
            if side in row:
                t = row[side]
                line += (" |" if side == "torch" else "") + "".join(
                    f" {t[k]:7.1f}" for k in ("forward_ms", "input_grad_ms", "both_grads_ms"))
                total[side] = total.get(side, 0.0) + row["count"] * (
                    t["forward_ms"] + t["both_grads_ms"])
        click.echo(line)
    click.echo("sum over layers of count * (fwd + dx+dw): " +
               ", ".join(f"{k} {v:.0f} ms" for k, v in total.items()))
    _save(r, json_out)


@bench.command()
@DEVICE
@click.option("--batch-size", type=int, default=16, show_default=True,
              help="images in the tensors (16: 67 MB per 64-channel 128x128 activation)")
@click.option("--size", type=int, default=128, show_default=True,
              help="height and width of the 64-channel activation the kernels run on")
@click.option("--repeats", type=int, default=50, show_default=True,
              help="calls between the two CUDA events of each case")
@JSON_OUT
def kernels(device, batch_size, size, repeats, json_out):
    """Each CUDA kernel alone at batch-16 shapes: GPU time from CUDA events around many
    calls, GB/s moved and its fraction of the GPU's peak bandwidth (cuda; emu is a smoke
    test with host timers, e.g. --batch-size 1 --size 8)."""
    from p2p_cupy.bench.kernels import bench_kernels
    from p2p_cupy import backend
    if not backend.get_backend(device).uses_kernels:
        raise click.BadParameter(f"kernels run on --device cuda (or emu, a smoke test); "
                                 f"{device} is {backend.get_backend(device).name}",
                                 param_hint="--device")
    if batch_size < 1 or size < 8 or size % 8 or repeats < 1:
        raise click.BadParameter("need --batch-size >= 1, --size a multiple of 8, --repeats >= 1")
    r = bench_kernels(device, batch_size, size, repeats)
    click.echo(f"{r['device']} ({r['gpu'] or 'GPU not in the model'}), {r['dtype']}, "
               f"{r['timer']}; device copy {r['copy_gb_per_s']:.0f} GB/s"
               + (f", peak {r['peak_gb_per_s']:.0f} GB/s" if r["peak_gb_per_s"] else ""))
    click.echo(f"{'case':36s} {'shape':24s} {'ms':>9s} {'GB/s':>8s} {'of peak':>8s} {'of copy':>8s}")
    for row in r["rows"]:
        peak = f"{100 * row['of_peak']:7.0f}%" if row["of_peak"] is not None else f"{'-':>8s}"
        extra = f"  {row['gflop_per_s']:.0f} GFLOP/s" if row["gflop_per_s"] else ""
        click.echo(f"{row['kernel']:36s} {row['shape']:24s} {row['ms']:9.3f} "
                   f"{row['gb_per_s']:8.1f} {peak} {100 * row['of_copy']:7.0f}%{extra}")
    _save(r, json_out)


@bench.command()
@click.option("--steps", type=click.IntRange(1), default=300, show_default=True,
              help="training steps of every configuration")
@click.option("--work-dir", default="runs/quality", show_default=True,
              type=click.Path(file_okay=False),
              help="where the runs go (a rerun continues or reuses them)")
@click.option("--docs", "docs_dir", default=None, type=click.Path(file_okay=False),
              help="also write each configuration's sample grid and the overview figure here")
@click.option("--only", multiple=True,
              help="train only this configuration (repeatable): l1_cgan, l1, cgan, l1_gan, "
                   "encoder_decoder, patch_1, patch_16, patch_286 (+ _seed1 for the first 3)")
@click.option("--no-second-seed", is_flag=True,
              help="skip the second seed of the three loss configurations")
@click.option("--num-test", type=click.IntRange(1), default=None,
              help="score on the first N test pairs only [all 100]")
@click.option("--crop-size", type=click.IntRange(16), default=None,
              help="change the scale's 64 px crop (the load size follows at 9/8)")
@click.option("--train-only", is_flag=True,
              help="train, don't score: run several of these with disjoint --only sets, "
                   "then one without it scores every run and writes the table")
@JSON_OUT
def quality(steps, work_dir, docs_dir, only, no_second_seed, num_test, crop_size, train_only,
            json_out):
    """The paper's ablations on the built-in synthetic facades (v2), at CPU scale: losses
    L1 / cGAN / L1+cGAN / L1+GAN, U-Net vs encoder-decoder, PatchGAN 1x1 / 16 / 70 / 286
    (receptive fields scaled to the crop). Each configuration is trained from the same seed
    and scored by `p2p test` (FCN-score, sharpness, L1, PSNR, SSIM); the FCN scorer is
    trained once and cached. Scale and receptive fields: p2p_cupy/bench/quality.py."""
    from p2p_cupy import backend
    from p2p_cupy.host_memory import keep_freed_memory
    from p2p_cupy.bench.quality import run_table, table_lines
    keep_freed_memory()
    backend.set_backend("cpu")
    changes = {} if crop_size is None else {"crop_size": crop_size,
                                            "load_size": crop_size * 9 // 8}
    record = run_table(steps, work_dir, docs_dir, not no_second_seed, set(only) or None,
                       num_test, train_only=train_only, **changes)
    if record is None:
        return
    record["command"] = "p2p bench quality " + " ".join(sys.argv[3:])
    click.echo("\n".join(table_lines(record)))
    _save(record, json_out)


@bench.command()
@click.option("--gpu", type=click.Choice(["h100", "h200", "a100"]), default="h100",
              show_default=True, help="published bandwidth and FP32/TF32 peaks of this GPU")
@click.option("--batch-size", type=int, default=1, show_default=True)
@SIZE
@click.option("--tf32", is_flag=True, help="price the GEMMs at the TF32 tensor-core peak")
@click.option("--top", type=int, default=12, show_default=True, help="rows to list")
@click.option("--label", default=None,
              help="what code was modelled, for the record [the git commit, if any]")
@click.option("--save", is_flag=True,
              help="save the prediction to benchmarks/results/ (or --json OUT) for RESULTS.md")
@JSON_OUT
def model(gpu, batch_size, size, tf32, top, label, save, json_out):
    """Roofline model of one training iteration: each recorded kernel, GEMM and layout copy
    at max(bytes / bandwidth, FLOPs / peak, 2 us), summed to the step's floor, beside the
    last measured step on that GPU (benchmarks/results/). Runs the iteration on the CPU
    with every launch only noted: about 10 s at batch 1, 256x256."""
    from p2p_cupy.bench.model import code_label, step_model
    if batch_size < 1:
        raise click.BadParameter("need --batch-size >= 1")
    m = step_model(gpu, batch_size, size, tf32)
    m["label"] = label or code_label()
    click.echo(f"{m['gpu']}, batch {batch_size}, {size}x{size}, GEMMs at the "
               f"{'TF32' if tf32 else 'FP32'} peak; {m['launches']} launches, "
               f"{m['bytes'] / 1e9:.2f} GB, {m['flops'] / 1e9:.1f} GFLOP")
    click.echo(f"{'group':36s} {'launches':>8s} {'GB':>8s} {'GFLOP':>9s} {'floor ms':>9s}")
    for row in m["rows"][:top]:
        click.echo(f"{row['group']:36s} {row['launches']:8d} {row['bytes'] / 1e9:8.3f} "
                   f"{row['flops'] / 1e9:9.1f} {row['seconds'] * 1e3:9.3f}")
    if len(m["rows"]) > top:
        rest = m["rows"][top:]
        click.echo(f"{'(' + str(len(rest)) + ' more)':36s} {sum(r['launches'] for r in rest):8d} "
                   f"{sum(r['bytes'] for r in rest) / 1e9:8.3f} "
                   f"{sum(r['flops'] for r in rest) / 1e9:9.1f} "
                   f"{sum(r['seconds'] for r in rest) * 1e3:9.3f}")
    measured = (f"{m['measured'][0]:.1f} ms ({m['measured'][1]})" if m["measured"]
                else "none recorded")
    click.echo(f"predicted floor {m['floor_ms']:.2f} ms; last measured step: {measured}")
    if save or json_out:
        _save(m, json_out)


@bench.command()
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="markdown file to write [benchmarks/RESULTS.md]")
def report(out):
    """Regenerate benchmarks/RESULTS.md from every JSON in benchmarks/results/ (under the
    current folder), and the summary table of ./README.md when it has one."""
    from p2p_cupy.bench import results
    click.echo(f"wrote {results.write_report(out=out)}")
