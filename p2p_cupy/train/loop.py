"""The training loop of `p2p train`: epochs of train_step, checkpoints, reports.

Host reads are rare on purpose: every iteration's losses stay 0-d arrays on the backend
and are read in one transfer every --print-freq steps (and before every checkpoint). That
read also checks them: a NaN or inf stops the run, naming the first bad step, *before*
anything is saved, so the last checkpoint on disk is a good one.

Stopping: --max-steps N (global step, counted across resumes), the last epoch, or Ctrl-C.
Ctrl-C only sets a flag that is checked between iterations, so the checkpoint written on
the way out holds a consistent state (never D updated but G not); a second Ctrl-C aborts
at once without saving, leaving the previous checkpoint (a save it interrupts leaves no
partial file: p2p_cupy/safe_files.py).

Observing: a Trainer may be given an observer that runs each iteration in its place, to
watch it from inside (`p2p train --inspect-freq`, p2p_cupy/inspection/training_probe.py):

    observer.observe_step(step, G, D, run_step) -> run_step()'s (losses, fake_B)
    observer.html_section() -> str       HTML for the run's index.html ("" for nothing)

The trainer knows nothing of what is observed: inspection sits above training and
training never imports it (docs/DESIGN.md, "The layer cake").
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import numpy as np

from p2p_cupy import backend
from p2p_cupy.errors import P2PError
from p2p_cupy.parallel import comm
from p2p_cupy.train import checkpoint
from p2p_cupy.train.build import build_run
from p2p_cupy.train.graphed import GraphedSteps
from p2p_cupy.train.progress import ProgressBar
from p2p_cupy.train.report import RunReport, loss_names
from p2p_cupy.train.step import StepInputs, train_step


class TrainingDiverged(RuntimeError):
    """A loss became NaN or inf; the message names the step and the loss."""


class Trainer:
    """One run on the backend `bk`: models, optimizers, data, report; `run_to_end()` trains
    until a stop condition. `observer` (optional) runs each iteration (see above).

    Under data parallelism (`world` of N > 1 processes, p2p_cupy/parallel/) every rank runs
    this same loop in lockstep; rank 0 alone writes the run folder."""

    def __init__(self, opts, run_dir, bk, resume_state=None, out=None, world=comm.SINGLE,
                 observer=None):
        self.opts, self.run_dir, self.out = opts, Path(run_dir), out or sys.stderr
        self.world, self.writes = world, world.rank == 0
        self.bk, self.observer = bk, observer
        if world.size > 1 and bk.name == "cuda":
            from p2p_cupy.parallel.nccl import select_local_gpu
            select_local_gpu(world)    # one GPU per process, before any array is made
        use_graph = self._use_graph()  # refused before anything is built
        self.step, self.epoch, self.epoch_step, self.trained_s = 0, 1, 0, 0.0
        self.epoch_l1 = [0.0, 0]       # sum and count of this epoch's G_L1 (--lr-policy plateau)
        with backend.using(bk):
            self.run = build_run(opts, world.rank, world.size)   # G, D, opt_G, opt_D, ...
            if resume_state is not None:
                self.load_state(resume_state)
            self.parallel = None
            if world.size > 1:
                from p2p_cupy.parallel.training import DataParallel
                self.parallel = DataParallel(world, self.run, self.bk, opts.sync_bn)
        self.report = RunReport(self.run_dir, loss_names(opts.gan_mode))
        if self.writes:
            self.report.truncate_log(self.step)
        self.pending = []              # (step, epoch, lr, {name: 0-d backend array})
        self.latest_losses = {}        # the last host-read losses (progress bar)
        self.inputs = None             # the StepInputs every step copies its batch into
        self.graphed = None            # GraphedSteps when steps replay a capture
        if use_graph:
            with backend.using(bk):
                self.graphed = GraphedSteps(self.run, opts.gan_mode, opts.lambda_l1,
                                            self.report.loss_names, opts.print_freq,
                                            opts.lambda_gan, not opts.unconditional_D)
        self.clock = time.perf_counter()   # trained_s is accounted up to this moment
        self.stop_requested = False
        self.last_checkpoint_step = self.step if resume_state is not None else None

    # --- state ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        r = self.run
        return {"version": 1, "step": self.step, "epoch": self.epoch,
                "epoch_step": self.epoch_step, "trained_s": self.trained_s,
                "options": self.opts.to_dict(), "G": dict(r.G.state_dict()),
                "D": dict(r.D.state_dict()), "opt_G": r.opt_G.state_dict(),
                "opt_D": r.opt_D.state_dict(), "loader": r.loader.state_dict(),
                "schedule": r.schedule.state_dict() if r.schedule.stateful else {},
                "epoch_l1": list(self.epoch_l1)}

    def load_state(self, state):
        r = self.run
        r.G.load_state_dict(state["G"])
        r.D.load_state_dict(state["D"])
        r.opt_G.load_state_dict(state["opt_G"])
        r.opt_D.load_state_dict(state["opt_D"])
        r.loader.load_state_dict(state["loader"])
        self.step, self.epoch = state["step"], state["epoch"]
        self.epoch_step, self.trained_s = state["epoch_step"], state["trained_s"]
        if r.schedule.stateful and "schedule" in state:
            r.schedule.load_state_dict(state["schedule"])
        self.epoch_l1 = list(state.get("epoch_l1", [0.0, 0]))

    def save(self, name="latest"):
        self.flush_losses()            # raises TrainingDiverged before a bad state is saved
        self.account_time()
        if self.writes:
            checkpoint.save_checkpoint(checkpoint.checkpoint_dir(self.run_dir), name,
                                       self.state_dict())
        self.last_checkpoint_step = self.step

    # --- losses -----------------------------------------------------------------------
    def flush_losses(self):
        """Read the pending losses to the host in one transfer, check and log them. Under
        data parallelism every rank's losses are gathered (the logged loss is their mean:
        the global batch's) and the ranks' parameters are compared."""
        if not self.pending:
            return
        xp = self.bk.xp
        names = self.report.loss_names
        table = self.bk.to_numpy(xp.stack([xp.stack([losses[k] for k in names])
                                           for *_, losses in self.pending]))
        ranks = np.stack(self.world.allgather(table))     # (ranks, steps, losses)
        rows = [(step, epoch, lr, dict(zip(names, map(float, values))))
                for (step, epoch, lr, _), values in zip(self.pending, ranks.mean(axis=0))]
        self.pending = []
        bad = [(i, r, k) for i, row in enumerate(rows) for r in range(len(ranks))
               for k in range(len(names)) if not np.isfinite(ranks[r, i, k])]
        good_rows = rows[:bad[0][0]] if bad else rows
        if self.writes:
            self.report.log_losses(good_rows)
        for *_, losses in good_rows:   # every rank: the plateau schedule must agree
            self.epoch_l1 = [self.epoch_l1[0] + losses["G_L1"], self.epoch_l1[1] + 1]
        if good_rows:
            self.latest_losses = good_rows[-1][3]
        if bad:
            i, r, k = bad[0]
            where = f" on rank {r} of {len(ranks)}" if len(ranks) > 1 else ""
            raise TrainingDiverged(f"loss {names[k]} is {ranks[r, i, k]} at step "
                                   f"{rows[i][0]}{where}")
        if self.parallel is not None:
            self.parallel.check_in_sync(self.step)

    # --- the loop -----------------------------------------------------------------------
    def lr(self) -> float:
        return self.run.opt_G.lr

    def total_epochs(self) -> int:
        return self.opts.n_epochs + self.opts.n_epochs_decay

    def run_to_end(self) -> str:
        """Train until a stop condition; returns why it stopped: 'max-steps', 'finished',
        'interrupted' or 'diverged' (the last after printing the message)."""
        self.clock = time.perf_counter()
        with _stop_signals_set_flag(self), backend.using(self.bk):
            try:
                reason = self._loop()
                self.save()
            except TrainingDiverged as e:
                kept = (f"the last good checkpoint (step {self.last_checkpoint_step}) is kept in "
                        f"{checkpoint.checkpoint_dir(self.run_dir)}"
                        if self.last_checkpoint_step is not None else "no checkpoint was written")
                print(f"\ntraining stopped: {e}; {kept}", file=self.out)
                reason = "diverged"
        self.write_index(reason)
        return reason

    def _loop(self) -> str:
        opts, r = self.opts, self.run
        if opts.max_steps is not None and self.step >= opts.max_steps:
            return "max-steps"
        while self.epoch <= self.total_epochs():
            r.set_epoch_lr(self.epoch)
            bar = ProgressBar(self.epoch, self.total_epochs(), len(r.loader), self.out)
            started, steps_before = time.perf_counter(), self.step
            # closing(): leaving the loop by return or exception stops the prefetch thread
            # here and now, so an error there is raised here, not printed by the collector.
            with closing(r.loader.iter_from(self.epoch, self.epoch_step)) as batches:
                reason = self._epoch(batches, bar, started, steps_before)
            if reason:
                return reason
            elapsed = time.perf_counter() - started
            self.flush_losses()
            bar.finish(self.epoch_step, self._speed(started, steps_before), self.latest_losses,
                       elapsed, self.lr())
            total, count = self.epoch_l1
            r.schedule.epoch_finished(total / max(count, 1))
            self.epoch, self.epoch_step, self.epoch_l1 = self.epoch + 1, 0, [0.0, 0]
            self.save()
            if (self.epoch - 1) % opts.save_epoch_freq == 0:
                self.save(checkpoint.epoch_name(self.epoch - 1))
            self.write_index("running")
        return "finished"

    def _use_graph(self) -> bool:
        """--cuda-graph: on cuda unless turned off; on emu when asked; never on NumPy, and
        never with several processes or --sync-bn, whose all-reduces run on the host
        between kernels where a captured step cannot hold them, nor with wgangp, whose
        penalty draws new interpolation weights on the host every step."""
        host_reduces = self.world.size > 1 or self.opts.sync_bn
        if self.opts.gan_mode == "wgangp":     # refused with it by TrainOptions.validate
            return False
        if self.opts.cuda_graph is None:
            if self.bk.name == "cuda" and host_reduces and self.writes:
                print("note: CUDA graph off (data-parallel steps all-reduce on the host)",
                      file=self.out)
            return self.bk.name == "cuda" and not host_reduces
        if self.opts.cuda_graph and host_reduces:
            raise P2PError(f"--cuda-graph: cannot be used with {self.world.size} processes "
                           "or --sync-bn (their all-reduces run on the host); use "
                           "--no-cuda-graph")
        if self.opts.cuda_graph and not self.bk.uses_kernels:
            raise P2PError(f"--cuda-graph: device {self.bk.name!r} runs no kernels to "
                           "capture; use --device cuda (or emu), or drop --cuda-graph")
        return bool(self.opts.cuda_graph)

    def _epoch(self, batches, bar, started, steps_before):
        """Train on the batches of one epoch; the reason to stop early, or None."""
        opts = self.opts
        for real_A, real_B in batches:
            losses, fake_B = self.train_batch(real_A, real_B)     # copied in by StepInputs
            self.step += 1
            self.epoch_step += 1
            self.pending.append((self.step, self.epoch, self.lr(), losses))
            if self.step % opts.print_freq == 0:
                self.flush_losses()
                bar.update(self.epoch_step, self._speed(started, steps_before),
                           self.latest_losses)
            if self.step % opts.sample_freq == 0 and self.writes:
                self.report.save_sample(self.step, real_A, self.bk.to_numpy(fake_B), real_B)
                self.write_index("running")
            if self.step % opts.save_latest_freq == 0:
                self.save()
            if self.world.any(self.stop_requested):   # every rank stops at one step
                return "interrupted"
            # Checked before the loader is asked for the next batch, whose random crop
            # and flip would otherwise be drawn and lost.
            if opts.max_steps is not None and self.step >= opts.max_steps:
                return "max-steps"
        return None

    def train_batch(self, real_A, real_B):
        """train_step on one batch, run by the observer when there is one; a captured step
        replays unless the observer watches this one (it watches eager steps from inside)."""
        r, opts = self.run, self.opts
        inspected = (self.observer is not None and opts.inspect_freq
                     and (self.step + 1) % opts.inspect_freq == 0)
        if self.graphed is not None and not inspected:
            return self.graphed(real_A, real_B)
        if self.inputs is None or not self.inputs.fits(real_A, real_B):
            self.inputs = StepInputs(real_A.shape, real_B.shape, real_A.dtype)

        # wgangp's interpolation weights: keyed by the step, so a resumed run draws the same
        alpha = (np.random.default_rng([opts.seed + 3, self.step + 1]).random(real_A.shape[0])
                 if opts.gan_mode == "wgangp" else None)
        average = self.parallel.average_gradients if self.parallel else None

        def step():
            return train_step(r.G, r.D, r.opt_G, r.opt_D, real_A, real_B, opts.gan_mode,
                              opts.lambda_l1, opts.lambda_gan, not opts.unconditional_D,
                              inputs=self.inputs, average_gradients=average,
                              gp_alpha=alpha, lambda_gp=opts.lambda_gp)
        if self.observer is None:
            return step()
        return self.observer.observe_step(self.step + 1, r.G, r.D, step)

    def _speed(self, started, steps_before) -> float:
        return (self.step - steps_before) / max(time.perf_counter() - started, 1e-9)

    def account_time(self):
        """Add the wall time since the last call to trained_s (kept across resumes)."""
        now = time.perf_counter()
        self.trained_s, self.clock = self.trained_s + now - self.clock, now

    def write_index(self, state: str):
        self.account_time()
        if not self.writes:
            return
        speed = self.step / self.trained_s if self.trained_s > 0 else float("nan")
        epoch = min(self.epoch, self.total_epochs())
        status = {"state": state, "step": self.step, "epoch": f"{epoch} / {self.total_epochs()}",
                  "device": self.bk.name,
                  "speed": f"{speed:.2f} it/s ({self.trained_s:.0f} s of training)",
                  "generator parameters": f"{self.run.G.num_parameters():,}",
                  "discriminator parameters": f"{self.run.D.num_parameters():,}"}
        if self.world.size > 1:
            status["data parallel"] = global_batch_line(self.world, self.opts)
        extra = self.observer.html_section() if self.observer is not None else ""
        self.report.write_index(self.opts.to_dict(), status, extra)


def global_batch_line(world, opts) -> str:
    return (f"{world.name} x batch {opts.batch_size} = global batch "
            f"{world.size * opts.batch_size}{', synchronized batch norm' if opts.sync_bn else ''}")


class _stop_signals_set_flag:
    """During training, the first Ctrl-C (SIGINT) or SIGTERM (what `kill` and job
    schedulers send before they kill) asks for a clean stop: the step ends and a checkpoint
    is saved; a second one aborts at once."""

    SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}

    def __init__(self, trainer):
        self.trainer = trainer

    def __enter__(self):
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}

    def _handle(self, signum, frame):
        trainer = self.trainer
        if trainer.stop_requested:
            raise KeyboardInterrupt    # run.py says which checkpoint is kept; nothing is saved
        trainer.stop_requested = True
        kept = (f"step {trainer.last_checkpoint_step}" if trainer.last_checkpoint_step is not None
                else "none yet")
        name = self.SIGNALS[signum]
        print(f"\n{name}: stopping after this step and saving a checkpoint ({name} again: "
              f"stop at once without saving; the last checkpoint, {kept}, stays)",
              file=trainer.out, flush=True)

    def __exit__(self, *exc):
        for s, previous in self.previous.items():     # None: a handler set outside Python
            signal.signal(s, signal.SIG_DFL if previous is None else previous)
