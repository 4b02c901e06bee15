"""A run folder survives a second process, a kill during a rewrite, a torn log and a
second Ctrl-C: the lock, the atomic rewrites, the torn-line handling."""
import io
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from ab_pairs import write_random_pairs
from PIL import Image

from p2p_cupy import safe_files
from p2p_cupy.train import checkpoint, loop, report
from p2p_cupy.train.options import TrainOptions
from p2p_cupy.train.run import start_or_resume
from p2p_cupy.train.run_lock import RunInUse, RunLock


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    write_random_pairs(root / "train", 4)
    return root


def _options(data, out, **kw):
    values = dict(dataroot=str(data), out=str(out), name="run", netG="unet_32", ngf=2, ndf=2,
                  load_size=32, crop_size=32, n_epochs=50, device="numpy", print_freq=1,
                  sample_freq=1000, save_latest_freq=2)
    values.update(kw)
    return TrainOptions(**values)


@pytest.fixture
def run(data, tmp_path):
    """A run folder with a checkpoint at step 4 and a log of steps 1..4."""
    assert start_or_resume(_options(data, tmp_path, max_steps=4), {}, out=io.StringIO()) == 0
    return tmp_path / "run"


def _logged_steps(run_dir):
    return [row["step"] for row in report.RunReport(run_dir).read_log()]


def _fork(job):
    """Run job() in a forked child; its exit status (-signal if killed)."""
    pid = os.fork()
    if pid == 0:                                    # pragma: no cover - the child
        code = 0
        try:
            job()
        except BaseException:
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def test_a_second_process_is_refused_in_one_line_naming_the_holder(run):
    torn = run / "checkpoints" / f".tmp-{os.getpid()}-latest.npz"   # a save in progress
    torn.write_bytes(b"half a checkpoint")
    log_before = (run / "loss_log.csv").read_bytes()
    with RunLock(run):
        result = subprocess.run([sys.executable, "-m", "p2p_cupy", "train", "--resume", str(run),
                                 "--max-steps", "8"], capture_output=True, text=True, timeout=120)
        with pytest.raises(RunInUse, match=f"pid {os.getpid()}"):   # also within one process
            start_or_resume(None, {"max_steps": 8}, resume=run, out=io.StringIO())
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert f"pid {os.getpid()}" in result.stderr and str(run) in result.stderr
    assert "Traceback" not in result.stderr
    # The refused process touched nothing: the holder's temporary file and log are intact.
    assert torn.read_bytes() == b"half a checkpoint"
    assert (run / "loss_log.csv").read_bytes() == log_before
    torn.unlink()
    # Once the holder is gone, the run resumes.
    assert start_or_resume(None, {"max_steps": 6}, resume=run, out=io.StringIO()) == 0
    assert _logged_steps(run) == [1, 2, 3, 4, 5, 6]


def test_the_lock_is_released_by_a_kill(run):
    def hold_and_die():
        with RunLock(run):
            os.kill(os.getpid(), signal.SIGKILL)
    assert _fork(hold_and_die) == -signal.SIGKILL
    with RunLock(run):
        pass


def test_a_failed_new_run_leaves_no_empty_run_folder(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        start_or_resume(_options(tmp_path / "missing", tmp_path), {}, out=io.StringIO())
    assert not (tmp_path / "run").exists()


def test_a_kill_during_the_log_rewrite_on_resume_keeps_the_whole_log(run):
    before = (run / "loss_log.csv").read_bytes()

    def rewrite_and_die_before_the_rename():
        def die(*args):
            os.kill(os.getpid(), signal.SIGKILL)
        safe_files.os.replace = die
        report.RunReport(run).truncate_log(2)
    assert _fork(rewrite_and_die_before_the_rename) == -signal.SIGKILL
    assert (run / "loss_log.csv").read_bytes() == before
    assert [p.name for p in run.iterdir() if p.name.startswith(".tmp")]   # the torn rewrite
    assert start_or_resume(None, {"max_steps": 5}, resume=run, out=io.StringIO()) == 0
    assert _logged_steps(run) == [1, 2, 3, 4, 5]
    assert not [p for p in run.rglob(".tmp*")]            # removed by the resume


@pytest.mark.parametrize("torn", ["3,1,0.0002,0.69", "3,1,0.0002,0.6931,4.5,0.69,0.7",
                                  "3,1,0.0", "\x00\x00\x00"])
def test_a_torn_last_log_line_is_dropped_with_a_warning_and_the_run_resumes(run, torn):
    log = run / "loss_log.csv"
    text = log.read_text()
    rows = text.splitlines()
    log.write_text("\n".join(rows[:3]) + "\n" + torn)     # steps 1, 2 and a torn step 3
    with pytest.warns(report.TornLogWarning, match="torn last line"):
        assert start_or_resume(None, {"max_steps": 6}, resume=run, out=io.StringIO()) == 0
    assert _logged_steps(run) == [1, 2, 5, 6]              # 3, 4: lost with the tear, not redone


def test_a_garbled_middle_line_is_dropped_with_a_warning(run):
    log = run / "loss_log.csv"
    rows = log.read_text().splitlines()
    rows[2] = "2,1,not a number"
    log.write_text("\n".join(rows) + "\n")
    with pytest.warns(report.TornLogWarning, match="line 3"):
        report.RunReport(run).truncate_log(4)
    assert _logged_steps(run) == [1, 3, 4]


def test_a_torn_inspection_record_is_skipped(tmp_path):
    from p2p_cupy.inspection.training_probe import InspectionLog
    log = InspectionLog(tmp_path)
    log.dir.mkdir()
    log.path.write_text('{"step": 4, "acc": 0.5}\n{"step": 8, "acc": 0.' )   # killed mid-append
    assert log.records() == [{"step": 4, "acc": 0.5}]


def test_two_processes_rewriting_index_html_never_collide(tmp_path):
    """The old writer used one temporary name per file: two writers renamed each other's
    file away and one died with FileNotFoundError."""
    target = tmp_path / "index.html"

    def write_many(text):
        def job():
            for _ in range(300):
                safe_files.write_text_atomically(target, text)
        return job
    pid = os.fork()
    if pid == 0:                                    # pragma: no cover - the child
        code = _fork(write_many("A" * 5000))
        os._exit(code)
    assert _fork(write_many("B" * 5000)) == 0
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert target.read_text() in ("A" * 5000, "B" * 5000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html"]


def test_every_checkpoint_replace_is_followed_by_a_folder_fsync(tmp_path, monkeypatch):
    events = []
    real_replace, real_fsync_dir = os.replace, safe_files.fsync_dir
    monkeypatch.setattr(safe_files.os, "replace",
                        lambda a, b: (events.append(("replace", os.path.basename(b))),
                                      real_replace(a, b))[1])
    monkeypatch.setattr(safe_files, "fsync_dir",
                        lambda d: (events.append(("fsync", str(d))), real_fsync_dir(d))[1])
    checkpoint.save_checkpoint(tmp_path / "ck", "latest", {"w": np.ones(3)})
    assert events == [("replace", "latest.npz"), ("fsync", str(tmp_path / "ck")),
                      ("replace", "latest.json"), ("fsync", str(tmp_path / "ck"))]


def test_a_failed_write_leaves_no_temporary_file_and_names_the_target(tmp_path, monkeypatch):
    def full_disk(*args, **kw):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError) as error:
        checkpoint.save_checkpoint(tmp_path, "latest", {"w": np.ones(3)})
    assert error.value.filename == str(tmp_path / "latest.npz")
    assert list(tmp_path.iterdir()) == []


# --- stopping anywhere in an epoch ----------------------------------------------------------
@pytest.mark.parametrize("batch_size, max_steps", [(1, 5), (1, 11), (2, 2), (4, 3), (1, 1),
                                                   (3, 1), (1, 6), (2, 4)])
def test_max_steps_anywhere_in_an_epoch_ends_the_run_with_a_checkpoint(tmp_path, batch_size,
                                                                      max_steps):
    """The issue's hangs: 6 pairs, batch 1 and --max-steps 5 (one batch before the end of
    the epoch) or 11; batch 2 with 2, batch 4 with 3."""
    import threading
    data = tmp_path / "six"
    (data / "train").mkdir(parents=True)
    for i in range(6):
        Image.new("RGB", (64, 32), (40 * i, 0, 0)).save(data / "train" / f"{i}.png")
    outcome = []
    opts = _options(data, tmp_path, batch_size=batch_size, max_steps=max_steps,
                    save_latest_freq=1000)
    worker = threading.Thread(target=lambda: outcome.append(
        start_or_resume(opts, {}, out=io.StringIO())), daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "the run hangs"
    assert outcome == [0]
    assert checkpoint.load_checkpoint(tmp_path / "run/checkpoints/latest.npz")["step"] == max_steps


# --- the second Ctrl-C ----------------------------------------------------------------------
def _ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("where", ["training step", "checkpoint write", "loader shutdown"])
def test_a_second_ctrl_c_aborts_without_saving_and_says_so(data, tmp_path, monkeypatch, capsys,
                                                          where):
    """The first Ctrl-C comes during step 3 and asks for a clean stop; the second lands in
    `where` before that stop's checkpoint is written: in the step itself, in the checkpoint
    write, or while the loop stops the prefetch thread (the issue's case: the interrupt was
    swallowed by the garbage collector and the run saved after all). The checkpoint of
    step 2 stays, and the messages say so."""
    real_step, real_save, real_build = loop.train_step, checkpoint.save_checkpoint, loop.build_run
    steps, second_sent = [], []

    def step(*args, **kw):
        steps.append(1)
        result = real_step(*args, **kw)
        if len(steps) == 3:
            _ctrl_c()
            if where == "training step":
                _ctrl_c()
        return result

    def save(directory, name, state):
        if state["step"] == 3 and where == "checkpoint write":
            return real_save(directory, name, {**state, "interrupted": _ctrl_c()})
        return real_save(directory, name, state)

    def build(opts, *rank_and_size):
        r = real_build(opts, *rank_and_size)
        real_load = r.loader.dataset.load

        def slow_load(*args, **kw):        # batch 4 is still decoding when step 3 ends
            if where == "loader shutdown" and len(steps) >= 2:
                time.sleep(0.3)
                if len(steps) == 3 and not second_sent:
                    second_sent.append(1)
                    _ctrl_c()
            return real_load(*args, **kw)
        r.loader.dataset.load = slow_load
        return r
    monkeypatch.setattr(loop, "train_step", step)
    monkeypatch.setattr(loop, "build_run", build)
    monkeypatch.setattr(loop.checkpoint, "save_checkpoint", save)
    out = io.StringIO()
    code = start_or_resume(_options(data, tmp_path, print_freq=1), {}, out=out)
    text = out.getvalue()
    assert code == 130, text
    assert "Ctrl-C again: stop at once without saving; the last checkpoint, step 2, stays" in text
    assert "aborted without saving; the last checkpoint (step 2) is kept" in text
    state = checkpoint.load_checkpoint(checkpoint.latest_checkpoint(tmp_path / "run"))
    assert state["step"] == 2
    assert not [p for p in (tmp_path / "run" / "checkpoints").iterdir()
                if p.name.startswith(".tmp")]
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Exception ignored" not in err
