"""Starting or resuming a run (what `p2p train` does around the Trainer).

Exit codes: 0 when the run stopped as asked (--max-steps or the last epoch), 130 after
Ctrl-C (the checkpoint is saved), 1 when a loss diverged (the last good checkpoint stays).

Under `mpiexec -n N` every process runs this; rank 0 alone prints and writes, and an error
on any rank ends them all with one line naming the rank (p2p_cupy/parallel/comm.py).
"""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from p2p_cupy import backend
from p2p_cupy.data import synthetic
from p2p_cupy.data.loader import ranks_mismatch
from p2p_cupy.parallel import comm
from p2p_cupy.train import checkpoint, expected, init_from
from p2p_cupy.train.build import resume_spec
from p2p_cupy.train.loop import Trainer, global_batch_line
from p2p_cupy.train.options import TrainOptions
from p2p_cupy.train.run_lock import RunLock

EXIT_CODES = {"max-steps": 0, "finished": 0, "interrupted": 130, "diverged": 1}


def start_or_resume(opts: TrainOptions, given: dict, resume=None, out=None, epoch=None,
                    init_g_only=False, observe=None, read_pth=None) -> int:
    """Train a new run in OUT/NAME (opts) or continue RESUME (from its latest checkpoint,
    or the one kept after `epoch`) with the options in `given` (those set on the command
    line) changed; returns the exit code. A new run with opts.init_from starts from those
    weights (init_from.py). Messages go to `out` (default: sys.stderr). observe(opts,
    run_dir), when given, makes the Trainer's observer once the run's options are known
    (`p2p train` passes the training probe); read_pth reads an --init-from .pth
    (init_from.read_source)."""
    world = comm.world()
    run_dir = Path(resume) if resume is not None else Path(opts.out) / opts.name
    how = dict(resume=resume is not None, epoch=epoch, init_g_only=init_g_only, world=world,
               observe=observe, read_pth=read_pth)
    with comm.failures_end_every_rank(world):
        if world.rank != 0:         # rank 0 alone writes, so rank 0 alone holds the lock
            with open(os.devnull, "w") as quiet:
                return _train_locked(opts, given, run_dir, quiet, **how)
        with RunLock(run_dir):
            return _train_locked(opts, given, run_dir, out or sys.stderr, **how)


def _train_locked(opts, given, run_dir: Path, out, resume: bool, epoch, init_g_only,
                  world, observe, read_pth) -> int:
    source = None
    if resume:
        if world.rank == 0:             # no one else's torn files: rank 0 holds the lock
            for folder in (run_dir, checkpoint.checkpoint_dir(run_dir), run_dir / "samples",
                           run_dir / "inspect"):
                checkpoint.remove_torn_files(folder)
        ckpt = checkpoint.CheckpointFile(checkpoint.run_checkpoint(run_dir, epoch))
        saved = expected.saved_options(ckpt)
        ranks = expected.saved_ranks(ckpt)
        if ranks != world.size:
            raise ValueError(f"{run_dir}: {ranks_mismatch(ranks, world.size)}")
        state = ckpt.load(expected.present_or_required(ckpt, resume_spec(saved, ranks)))
        opts = saved.resumed_with(given)
    else:
        state = None
        if (checkpoint.checkpoint_dir(run_dir) / "latest.npz").exists():
            raise ValueError(f"{run_dir} already holds a run: continue it with "
                             f"`p2p train --resume {run_dir}` or pick another --name")
        if opts.init_from is not None:
            source = init_from.read_source(opts.init_from, epoch, read_pth)
            opts = init_from.options_from_source(opts, given, source, init_g_only)
        elif epoch is not None:
            raise ValueError("--epoch picks the checkpoint of --resume RUN or --init-from RUN")
        opts = with_absolute_dataroot(opts)
    # rank 0 alone writes the run folder, so it alone observes (watching changes nothing)
    observer = observe(opts, run_dir) if observe is not None and world.rank == 0 else None
    trainer = Trainer(opts, run_dir, backend.get_backend(opts.device), state, out=out,
                      world=world, observer=observer)
    r = trainer.run
    if source is not None:
        with backend.using(trainer.bk):
            loaded = init_from.load_weights(r, source, init_g_only, opts.init_from)
        print(f"starting from the {loaded} weights of {opts.init_from}", file=out)
    print(f"{'resuming' if state else 'training'} {run_dir} at step {trainer.step} on "
          f"{trainer.bk.name}: {opts.netG} ({r.G.num_parameters():,} parameters) vs "
          f"{opts.netD} ({r.D.num_parameters():,}), {len(r.loader.dataset)} training pairs "
          f"from {r.dataroot}, {len(r.loader)} steps per epoch", file=out)
    pids = world.allgather(os.getpid())
    if world.size > 1:
        print(f"data parallel: {global_batch_line(world, opts)}; "
              f"{trainer.parallel.gradient_bytes / 1e6:.1f} MB of gradients all-reduced per "
              f"step; process ids by rank: " + ", ".join(f"{r}: {p}" for r, p in enumerate(pids)),
              file=out)
    try:
        reason = trainer.run_to_end()
    except KeyboardInterrupt:
        kept = (f"the last checkpoint (step {trainer.last_checkpoint_step}) is kept in "
                f"{checkpoint.checkpoint_dir(run_dir)}" if trainer.last_checkpoint_step is not None
                else "no checkpoint was written")
        print(f"\naborted without saving; {kept}", file=out)
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
    if synthetic.builtin_version(opts.dataroot) is not None:
        return opts                      # a built-in set's name, not a folder
    return dataclasses.replace(opts, dataroot=str(Path(opts.dataroot).resolve()))
