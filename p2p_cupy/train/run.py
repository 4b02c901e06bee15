"""Starting or resuming a run (what `p2p train` does around the Trainer).

Exit codes: 0 when the run stopped as asked (--max-steps or the last epoch), 130 after
Ctrl-C (the checkpoint is saved), 1 when a loss diverged (the last good checkpoint stays).
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from p2p_cupy.train import checkpoint, expected, init_from
from p2p_cupy.train.build import SYNTHETIC, resume_spec
from p2p_cupy.train.loop import Trainer
from p2p_cupy.train.options import TrainOptions

EXIT_CODES = {"max-steps": 0, "finished": 0, "interrupted": 130, "diverged": 1}


def start_or_resume(opts: TrainOptions, given: dict, resume=None, out=None, epoch=None,
                    init_g_only=False) -> int:
    """Train a new run in OUT/NAME (opts) or continue RESUME (from its latest checkpoint,
    or the one kept after `epoch`) with the options in `given` (those set on the command
    line) changed; returns the exit code. A new run with opts.init_from starts from those
    weights (init_from.py). Messages go to `out` (default: sys.stderr)."""
    out = out or sys.stderr
    source = None
    if resume is not None:
        run_dir = Path(resume)
        checkpoint.remove_torn_files(checkpoint.checkpoint_dir(run_dir))
        ckpt = checkpoint.CheckpointFile(checkpoint.run_checkpoint(run_dir, epoch))
        saved = expected.saved_options(ckpt)
        state = ckpt.load(expected.present_or_required(ckpt, resume_spec(saved)))
        opts = saved.resumed_with(given)
    else:
        run_dir, state = Path(opts.out) / opts.name, None
        if (checkpoint.checkpoint_dir(run_dir) / "latest.npz").exists():
            raise ValueError(f"{run_dir} already holds a run: continue it with "
                             f"`p2p train --resume {run_dir}` or pick another --name")
        if opts.init_from is not None:
            source = init_from.read_source(opts.init_from, epoch)
            opts = init_from.options_from_source(opts, given, source, init_g_only)
        elif epoch is not None:
            raise ValueError("--epoch picks the checkpoint of --resume RUN or --init-from RUN")
        opts = with_absolute_dataroot(opts)
    trainer = Trainer(opts, run_dir, state, out=out)
    r = trainer.run
    if source is not None:
        loaded = init_from.load_weights(r, source, init_g_only, opts.init_from)
        print(f"starting from the {loaded} weights of {opts.init_from}", file=out)
    print(f"{'resuming' if state else 'training'} {run_dir} at step {trainer.step} on "
          f"{trainer.bk.name}: {opts.netG} ({r.G.num_parameters():,} parameters) vs "
          f"{opts.netD} ({r.D.num_parameters():,}), {len(r.loader.dataset)} training pairs "
          f"from {r.dataroot}, {len(r.loader)} steps per epoch", file=out)
    try:
        reason = trainer.run_to_end()
    except KeyboardInterrupt:
        print(f"\naborted; the last checkpoint (step {trainer.last_checkpoint_step}) is kept "
              f"in {checkpoint.checkpoint_dir(run_dir)}", file=out)
        return EXIT_CODES["interrupted"]
    if reason != "diverged":
        print(f"stopped at step {trainer.step} ({reason}); checkpoint "
              f"{checkpoint.checkpoint_dir(run_dir) / 'latest.npz'}; report "
              f"{run_dir / 'index.html'}", file=out)
        if reason != "finished":
            print(f"continue with: p2p train --resume {run_dir}", file=out)
    return EXIT_CODES[reason]


def with_absolute_dataroot(opts: TrainOptions) -> TrainOptions:
    """The data root as an absolute path, so `--resume` finds it from any folder."""
    if opts.dataroot == SYNTHETIC:
        return opts
    return dataclasses.replace(opts, dataroot=str(Path(opts.dataroot).resolve()))
