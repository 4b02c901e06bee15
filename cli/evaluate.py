"""`p2p test`: translate a data set's phase with a trained generator, write images,
index.html and metrics.json (L1, PSNR, SSIM).

    p2p test --checkpoint runs/facades --data datasets/facades --phase test
"""
import json

import click

from p2p_cupy.cli.common import device_option


@click.command(name="test")
@click.option("--checkpoint", "run_dir", required=True,
              type=click.Path(exists=True, file_okay=False), help="The run folder.")
@click.option("--data", "data_root", required=True,
              help="Data set root with PHASE/ of AB images, or synthetic-facades.")
@click.option("--phase", default="test", show_default=True, help="Sub-folder to translate.")
@click.option("--eval", "eval_mode", is_flag=True,
              help="Use BN running statistics and no dropout (default: as in the paper, "
                   "batch statistics and dropout on).")
@click.option("--num-test", type=click.IntRange(1), default=None,
              help="Translate only the first N pairs.")
@click.option("--out", "out_dir", default=None,
              help="Output folder [default: RUN_DIR/test_PHASE].")
@device_option()
def test(run_dir, data_root, phase, eval_mode, num_test, out_dir, device):
    """Score a trained generator on a data set phase."""
    from pathlib import Path

    from p2p_cupy import backend
    from p2p_cupy.evaluation.evaluate import run_test

    out_dir = out_dir or str(Path(run_dir) / f"test_{phase}")
    with backend.using(device):
        result = run_test(run_dir, data_root, out_dir, phase, eval_mode, num_test)
    summary = {k: result[k] for k in ("images", "l1", "psnr", "ssim")}
    click.echo(f"{json.dumps(summary)}\nwrote {out_dir}/index.html and {out_dir}/metrics.json")
