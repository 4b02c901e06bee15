"""`p2p test`: translate a data set's phase (or a folder of AB images, or one) with a
trained generator, write images, index.html and metrics.json (L1, PSNR, SSIM; on the
built-in synthetic facades also the FCN-score and the sharpness ratio).

    p2p test --checkpoint runs/facades --data datasets/facades --phase test
    p2p test --checkpoint runs/facades --epoch 50 --data my_pairs/ --native-size
"""
import json

import click

from p2p_cupy.cli.common import device_option


@click.command(name="test")
@click.option("--checkpoint", "run_dir", required=True,
              type=click.Path(exists=True), help="A run folder or a checkpoint .npz.")
@click.option("--epoch", default=None, metavar="N|latest",
              help="The checkpoint kept after epoch N [default: latest].")
@click.option("--data", "data_root", required=True,
              help="Data set root with PHASE/ of AB images, a folder of AB images, one AB "
                   "image, or synthetic-facades.")
@click.option("--phase", default="test", show_default=True, help="Sub-folder to translate.")
@click.option("--eval", "eval_mode", is_flag=True,
              help="Use BN running statistics and no dropout (default: as in the paper, "
                   "batch statistics and dropout on).")
@click.option("--num-test", type=click.IntRange(1), default=None,
              help="Translate only the first N pairs.")
@click.option("--native-size", is_flag=True,
              help="Keep each pair at its own size (sides rounded to a multiple of 4) "
                   "instead of resizing it to the run's crop size.")
@click.option("--fit", "fit_mode", type=click.Choice(["pad", "resize", "none"]),
              default="pad", show_default=True,
              help="Sides not a multiple of the generator's stride: reflect-pad and crop "
                   "back, resize there and back, or refuse.")
@click.option("--tile", type=click.IntRange(0), default=None,
              help="Translate in overlapping tiles of this side (see p2p translate).")
@click.option("--input-nc", type=click.Choice([1, 3, 4]), default=None,
              help="Check that the model takes this many input channels.")
@click.option("--output-nc", type=click.Choice([1, 3]), default=None,
              help="Check that the model writes this many output channels.")
@click.option("--out", "out_dir", default=None,
              help="Output folder [default: RUN_DIR/test_PHASE, or next to a .npz].")
@device_option()
def test(run_dir, epoch, data_root, phase, eval_mode, num_test, native_size, fit_mode, tile,
         input_nc, output_nc, out_dir, device):
    """Score a trained generator on a data set phase: L1, PSNR, SSIM. On the built-in
    synthetic facades also the paper's FCN-score (per-pixel accuracy, per-class accuracy,
    class IoU of a segmenter trained on real renderings, cached after its first use; the
    same for the real photos as the reference) and the sharpness ratio (high-frequency
    energy of the outputs / of the real photos: below 1 is blurrier)."""
    from pathlib import Path

    from p2p_cupy import backend
    from p2p_cupy.evaluation.evaluate import run_test

    suffix = phase if epoch in (None, "latest") else f"{phase}_epoch{epoch}"
    base = Path(run_dir) if Path(run_dir).is_dir() else Path(run_dir).with_suffix("")
    out_dir = out_dir or str(base / f"test_{suffix}")
    with backend.using(device):
        result = run_test(run_dir, data_root, out_dir, phase, eval_mode, num_test, epoch,
                          fit_mode, native_size, (input_nc, output_nc), tile)
    summary = {k: result[k] for k in ("images", "l1", "psnr", "ssim", "fcn_score",
                                      "fcn_score_real", "sharpness") if k in result}
    click.echo(f"{json.dumps(summary)}\nwrote {out_dir}/index.html and {out_dir}/metrics.json")
