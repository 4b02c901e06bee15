"""One training process per run folder, enforced with a lock on RUN_DIR/.lock.

Two `p2p train --resume RUN` at once would interleave loss_log.csv, fight over index.html
and delete each other's temporary checkpoint files. The lock is fcntl.flock on a file in
the run folder, held for as long as the process trains there; the kernel releases it when
the process ends, however it ends (kill -9 included), so a stale lock never blocks a
resume. The holder writes its pid into the file, so a second process can say who holds it.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from p2p_cupy.errors import P2PError

LOCK_NAME = ".lock"


class RunInUse(P2PError):
    """Another process is training in this run folder."""


class RunLock:
    """`with RunLock(run_dir):` trains in run_dir; raises RunInUse if another process does."""

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.fd = None
        self.created = False

    def __enter__(self):
        self.created = not self.run_dir.exists()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunInUse(f"{self.run_dir}: another p2p train (pid {holder}) is training in "
                           f"this run folder; wait for it to end or stop it") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc):
        if self.fd is None:
            return
        if self.created and [p.name for p in self.run_dir.iterdir()] == [LOCK_NAME]:
            self.path.unlink()    # a new run that failed before writing anything leaves no folder
            self.run_dir.rmdir()
        os.close(self.fd)         # closing releases the lock; the file may stay
        self.fd = None
