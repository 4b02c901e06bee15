"""The fuzz tests' worker (see fuzzing.py): reads "KIND<TAB>PATH" lines from stdin, runs
that reader on PATH and answers one line: "ok null", "error <message as JSON>" for a
P2PError, or "bug <traceback as JSON>" for anything else. A crash ends the process, which
the test sees as the end of its output."""
import io
import json
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

from p2p_cupy.data.archive import ExtractLimits
from p2p_cupy.data.download import extract
from p2p_cupy.errors import P2PError
from p2p_cupy.interop.torch_checkpoint import load_state_dict
from p2p_cupy.train.checkpoint import CheckpointFile
from p2p_cupy.evaluation.inference import load_generator

ARCHIVE_LIMITS = ExtractLimits(max_members=1000, max_total_bytes=64 << 20)


def read_npz(path):
    CheckpointFile(path).load()              # the generic checks, every array read
    load_generator(path)                     # checked against the generator it builds


def read_archive(path):
    """Unpack into ROOT/facades of a fresh folder that also holds the user's file; after
    a refusal or success, nothing but ROOT may have changed, and no link may exist."""
    base = Path(tempfile.mkdtemp())
    try:
        (base / "outside").mkdir()
        (base / "outside" / "precious.txt").write_text("keep me")
        (base / "root").mkdir()
        try:
            extract(Path(path), base / "root", "facades", ARCHIVE_LIMITS, io.StringIO())
        finally:
            links = [p for p in base.rglob("*") if p.is_symlink()]
            outside = sorted(p.name for p in base.iterdir())
            assert not links, f"links were created: {links}"
            assert outside == ["outside", "root"], f"written beside ROOT: {outside}"
            assert [p.name for p in (base / "outside").iterdir()] == ["precious.txt"]
            assert (base / "outside" / "precious.txt").read_text() == "keep me"
            assert not list((base / "root").glob(".tmp-*")), "temporary folder left"
    finally:
        shutil.rmtree(base)


READERS = {"pth": load_state_dict, "npz": read_npz, "archive": read_archive}


def main():
    for line in sys.stdin:
        kind, path = line.rstrip("\n").split("\t")
        try:
            READERS[kind](path)
            answer = "ok null"
        except P2PError as e:
            answer = "error " + json.dumps(str(e))
        except BaseException:                # noqa: B036 - everything else is a finding
            answer = "bug " + json.dumps(traceback.format_exc())
        print(answer, flush=True)


if __name__ == "__main__":
    main()
