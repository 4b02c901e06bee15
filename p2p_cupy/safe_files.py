"""Writing files so that a kill, a full disk or a second writer never leaves a torn one.

Every file the project rewrites (checkpoints, index.html, metrics.json, the loss log on
resume, sample grids) goes through replace_atomically: the bytes go to a temporary file in
the same folder (its name is unique to the process, so two writers never share one), are
flushed to the disk, and the temporary file is renamed over the target (os.replace, atomic
on POSIX). Then the folder itself is fsynced, so after a power cut the folder lists the
new file, not the old one or none. A reader therefore sees the old file or the new one,
never half of one; a failure removes the temporary file and names the target.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

TEMP_PREFIX = ".tmp-"


def temp_name(path: Path) -> Path:
    """The temporary file this process writes before replacing `path`."""
    return path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{path.name}")


def fsync_dir(folder):
    """Make a rename inside `folder` durable (POSIX; a no-op where folders can't be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass                      # some file systems refuse fsync on folders; nothing to do
    finally:
        os.close(fd)


@contextlib.contextmanager
def naming(path):
    """Re-raise an OSError that names no file (a write on a full disk) as one naming path."""
    try:
        yield
    except OSError as e:
        if e.filename is not None or e.errno is None:
            raise
        raise type(e)(e.errno, e.strerror, str(path)) from e


def replace_atomically(path, write):
    """Write path through a temporary file: write(f) gets the open binary file."""
    path = Path(path)
    tmp = temp_name(path)
    try:
        with naming(path):
            with open(tmp, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException:         # Ctrl-C and kills included: no temporary file stays behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)
    return path


def write_text_atomically(path, text: str):
    return replace_atomically(path, lambda f: f.write(text.encode("utf-8")))


def write_png_atomically(path, image):
    """A PIL image saved as PNG through replace_atomically."""
    return replace_atomically(path, lambda f: image.save(f, format="PNG"))
