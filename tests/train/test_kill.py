"""kill -9 at random moments of a run, of a resume and of a checkpoint write never loses a
completed checkpoint, never tears the log, and never loses more than the last
--print-freq steps of it; after all the kills the run still finishes exactly as an
uninterrupted one.

Each attempt forks the test process (everything is imported already: a child starts in
milliseconds), trains or resumes a tiny run in the child, and SIGKILLs it: a third of the
attempts after a random delay, a third from inside the k-th file replacement (before or after
the rename: checkpoint .npz/.json, the log rewrite of a resume, index.html, samples) or
from inside the k-th opening of a file for writing (right after the open, which truncates
a file rewritten in place, or before it). The
child reports every finished step and every finished checkpoint through a pipe, so the
parent knows what must have survived.
"""
import builtins
import io
import os
import random
import signal
import time

import numpy as np
import pytest
from ab_pairs import write_random_pairs

from p2p_cupy.train import checkpoint, loop
from p2p_cupy.train.options import TrainOptions
from p2p_cupy.train.report import RunReport
from p2p_cupy.train.run import start_or_resume

KILLS = 24
PRINT_FREQ = 3


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill_data")
    write_random_pairs(root / "train", 3)
    return root


def _options(data, out, name, max_steps):
    return TrainOptions(dataroot=str(data), out=str(out), name=name, netG="unet_32", ngf=1,
                        ndf=1, load_size=36, crop_size=32, n_epochs=1000, device="numpy",
                        print_freq=PRINT_FREQ, sample_freq=5, save_latest_freq=2,
                        save_epoch_freq=2, max_steps=max_steps)


def _child(opts, run_dir, report_fd, kill_at):
    """Train (or resume) until killed; report 'step N' and 'saved N' as they complete."""
    def say(text):
        os.write(report_fd, f"{text}\n".encode())

    real_train_batch, real_save = loop.Trainer.train_batch, loop.Trainer.save

    def train_batch(self, *args):
        result = real_train_batch(self, *args)
        say(f"step {self.step + 1}")
        return result

    def save(self, name="latest"):
        real_save(self, name)
        if name == "latest":
            say(f"saved {self.step}")
    loop.Trainer.train_batch, loop.Trainer.save = train_batch, save
    if kill_at is not None:
        kind, nth, after = kill_at
        calls = []

        def counted(real, is_write):
            def call(*args, **kw):
                if is_write(*args, **kw):
                    calls.append(args[0])
                    if len(calls) == nth and not after:
                        os.kill(os.getpid(), signal.SIGKILL)
                result = real(*args, **kw)
                if is_write(*args, **kw) and len(calls) == nth:
                    os.kill(os.getpid(), signal.SIGKILL)    # e.g. opened (truncated), unwritten
                return result
            return call
        # The child is a fork: only it is patched.
        if kind == "replace":
            os.replace = counted(os.replace, lambda *a, **k: True)
        else:
            def writing(file, mode="r", *a, **k):
                return isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+")
            builtins.open = io.open = counted(io.open, writing)
    resume = run_dir if (checkpoint.checkpoint_dir(run_dir) / "latest.npz").exists() else None
    start_or_resume(opts, {}, resume=resume, out=io.StringIO())


def _run_and_kill(opts, run_dir, rng):
    read_end, write_end = os.pipe()
    way = rng.choice(["random moment", "replace", "open"])
    injected = None if way == "random moment" else (way, rng.randint(1, 8), rng.random() < 0.5)
    pid = os.fork()
    if pid == 0:                                         # pragma: no cover - the child
        os.close(read_end)
        try:
            _child(opts, run_dir, write_end, injected)
        finally:
            os._exit(0)
    os.close(write_end)
    if injected is None:
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end) as reports:
        events = reports.read().split("\n")
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, events
    steps = [int(e.split()[1]) for e in events if e.startswith("step")]
    saved = [int(e.split()[1]) for e in events if e.startswith("saved")]
    return max(steps, default=None), max(saved, default=None)


def test_kill_9_at_random_moments_loses_no_checkpoint_and_at_most_print_freq_log_steps(
        data, tmp_path):
    rng = random.Random(14)
    run_dir = tmp_path / "killed"
    opts = _options(data, tmp_path, "killed", max_steps=10_000)
    newest_saved = 0                       # the newest checkpoint any child finished
    for attempt in range(KILLS):
        last_step, last_saved = _run_and_kill(opts, run_dir, rng)
        newest_saved = max(newest_saved, last_saved or 0)
        on_disk = 0
        if newest_saved:
            state = checkpoint.load_checkpoint(checkpoint.latest_checkpoint(run_dir))
            on_disk = state["step"]
            assert on_disk >= newest_saved, f"kill {attempt}: checkpoint {newest_saved} lost"
        logged = [row["step"] for row in RunReport(run_dir).read_log()] \
            if run_dir.exists() else []
        assert logged == list(range(1, len(logged) + 1)), f"kill {attempt}: log torn {logged}"
        assert len(logged) >= on_disk, f"kill {attempt}: log behind the checkpoint"
        if last_step is not None:
            assert len(logged) >= last_step - PRINT_FREQ, (
                f"kill {attempt}: trained to step {last_step} but the log ends at {len(logged)}")
    assert newest_saved >= 6, "the kills came too early to test anything"
    # After all that, the run finishes exactly like one that was never interrupted.
    target = newest_saved + 4
    assert start_or_resume(None, {"max_steps": target}, resume=run_dir, out=io.StringIO()) == 0
    whole = _options(data, tmp_path, "whole", max_steps=target)
    assert start_or_resume(whole, {}, out=io.StringIO()) == 0
    a, b = (checkpoint.load_checkpoint(checkpoint.latest_checkpoint(tmp_path / n))
            for n in ("killed", "whole"))
    assert a["step"] == b["step"] == target
    for net in ("G", "D"):
        for k in a[net]:
            np.testing.assert_array_equal(a[net][k], b[net][k], err_msg=f"{net}/{k}")
    assert [row["step"] for row in RunReport(run_dir).read_log()] == list(range(1, target + 1))
    assert not list(run_dir.rglob(".tmp*"))
