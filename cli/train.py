"""`p2p train`: train pix2pix (the reference implementation's options, plus --max-steps).

    p2p train                                   # synthetic facades, full-size models
    p2p train --dataroot datasets/facades --direction BtoA --name facades
    p2p train --resume runs/facades --n-epochs 150
    p2p train --resume runs/facades --epoch 20        # go back to a kept epoch checkpoint
    p2p train --init-from runs/facades --dataroot datasets/mine --name mine   # fine-tune
    mpiexec -n 4 p2p train ...                  # data parallel: 4 processes (docs/SCALING.md)
"""
import sys

import click

from p2p_cupy.cli.common import device_option, model_options, train_option as _opt
from p2p_cupy.train.options import TrainOptions


@click.command()
@_opt("--dataroot", "Folder with train/ of AB images side by side, or synthetic-facades "
      "(the built-in set, generated once into ~/.cache/p2p_cupy).")
@_opt("--out", "Runs are written to OUT/NAME.")
@_opt("--name", "Name of the run (its folder under --out).")
@_opt("--direction", "AtoB or BtoA.", type=click.Choice(["AtoB", "BtoA"]))
@_opt("--max-dataset-size", "Train on the first N pairs only (in file-name order).",
      type=click.IntRange(1))
@_opt("--serial-batches", "Take the pairs in file order each epoch instead of shuffled.")
@model_options
@_opt("--input-nc", "Channels of the generator's input: 1 (grayscale), 3 (RGB) or 4 (RGBA, "
      "or RGB with a mask in the alpha channel).", type=click.Choice([1, 3, 4]))
@_opt("--output-nc", "Channels of the generator's output: 1 or 3.", type=click.Choice([1, 3]))
@_opt("--gan-mode", "GAN loss: vanilla (BCE), lsgan (MSE) or wgangp (Wasserstein critic "
      "with gradient penalty).", type=click.Choice(["vanilla", "lsgan", "wgangp"]))
@_opt("--lambda-gp", "Weight of the gradient penalty (--gan-mode wgangp).",
      type=click.FloatRange(0))
@_opt("--lambda-l1", "Weight of the L1 loss (0: the GAN loss alone).", type=float)
@_opt("--lambda-gan", "Weight of the GAN loss (0: L1 alone, D is not trained).", type=float)
@_opt("--unconditional-D", "D judges the photo alone, not the (label, photo) pair.")
@_opt("--lr", "Adam learning rate.", type=float)
@_opt("--beta1", "Adam beta1.", type=float)
@_opt("--n-epochs", "Epochs at the initial learning rate.", type=click.IntRange(0))
@_opt("--n-epochs-decay", "Epochs of linear decay to zero (--lr-policy linear).",
      type=click.IntRange(0))
@_opt("--lr-policy", "Learning-rate schedule: linear (constant, then linear decay), step "
      "(x0.1 every --lr-decay-iters epochs), plateau (x0.2 when the epoch's mean L1 stalls), "
      "cosine (cosine annealing over all epochs).",
      type=click.Choice(["linear", "step", "plateau", "cosine"]))
@_opt("--lr-decay-iters", "Epochs between the x0.1 steps of --lr-policy step.",
      type=click.IntRange(1))
@_opt("--init-type", "Weight initialisation: normal, xavier, kaiming or orthogonal.",
      type=click.Choice(["normal", "xavier", "kaiming", "orthogonal"]))
@_opt("--init-gain", "Scale of the normal, xavier and orthogonal initialisations.",
      type=click.FloatRange(0, min_open=True))
@_opt("--batch-size", "Batch size.", type=click.IntRange(1))
@_opt("--load-size", "Resize images to this size first.", type=click.IntRange(1))
@_opt("--crop-size", "Then crop to this size.", type=click.IntRange(1))
@_opt("--preprocess", "resize_and_crop, crop, scale_width, scale_width_and_crop or none.")
@_opt("--no-flip", "No random horizontal flips.")
@_opt("--seed", "Seed of weights, data order, augmentation and dropout.", type=int)
@device_option()
@click.option("--max-steps", type=click.IntRange(1), default=None,
              help="Stop after this global step (counted across resumes).")
@_opt("--print-freq", "Steps between reading losses (progress bar, loss_log.csv).",
      type=click.IntRange(1))
@_opt("--sample-freq", "Steps between sample grids in the report.", type=click.IntRange(1))
@_opt("--save-latest-freq", "Steps between `latest` checkpoints.", type=click.IntRange(1))
@_opt("--save-epoch-freq", "Epochs between kept epoch checkpoints.", type=click.IntRange(1))
@_opt("--inspect-freq", "Steps between looks inside the networks for the report (per-layer "
      "gradient norms, D's accuracy and patch map); 0: never.", type=click.IntRange(0))
@click.option("--cuda-graph/--no-cuda-graph", "cuda_graph", default=None,
              help="Capture the training step once (after an eager warm-up step) and replay "
                   "it every step: a CUDA graph on cuda (the default there), the recorded "
                   "launches on emu (off by default; gives the same weights).")
@_opt("--sync-bn", "Under mpiexec: batch norm statistics over the global batch (all "
      "processes) instead of each process's own batch.")
@click.option("--resume", type=click.Path(exists=True, file_okay=False), default=None,
              help="Continue the run in this folder with its saved options; only how long "
                   "to train, the frequencies and --device may change.")
@click.option("--epoch", default=None, metavar="N|latest",
              help="With --resume: continue from the kept checkpoint of epoch N instead of "
                   "the latest one; with --init-from RUN: take that epoch's weights.")
@_opt("--init-from", "Start a new run from trained weights: a run folder, a checkpoint .npz "
      "or a PyTorch generator .pth. G is loaded, and D too when the source has one (not with "
      "--init-g-only); architecture options not given here are taken from the source.",
      type=click.Path(exists=True))
@click.option("--init-g-only", is_flag=True,
              help="With --init-from: load only the generator; D starts fresh.")
@click.pass_context
def train(ctx, resume, epoch, init_g_only, **values):
    """Train pix2pix; the run folder gets checkpoints, loss_log.csv, samples and index.html.

    Started by `mpiexec -n N`, N processes train one model (data parallel): --batch-size
    is per process, the global batch N x batch-size; rank 0 writes the run folder."""
    from p2p_cupy.host_memory import keep_freed_memory
    from p2p_cupy.inspection.training_probe import training_probe
    from p2p_cupy.interop.convert import torch_generator
    from p2p_cupy.train.run import start_or_resume

    keep_freed_memory()   # freed arrays serve the next ones: no page faults (host_memory.py)
    given = {k: v for k, v in values.items()
             if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE}
    sys.exit(start_or_resume(TrainOptions(**values), given, resume, epoch=epoch,
                             init_g_only=init_g_only, observe=training_probe,
                             read_pth=torch_generator))

