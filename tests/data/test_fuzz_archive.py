"""Fuzzing the archive extractor: mutated .tar.gz, .tar and .zip data sets unpack or fail
with one ArchiveError line, and either way nothing is written beside ROOT, no link is
made and no temporary folder is left (fuzz_worker.py checks), never another exception,
a hang or a crash (fuzzing.py)."""
import io
import tarfile
import zipfile

import pytest
from fuzzing import Worker, fuzz_outcomes

FILES = [("facades/train/1.jpg", b"one" * 40), ("facades/train/2.jpg", b"two" * 30),
         ("facades/val/1.jpg", b"three")]


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


def _seed(kind):
    buf = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in FILES:
                z.writestr(name, data)
    else:
        with tarfile.open(fileobj=buf, mode="w:gz" if kind == "tar.gz" else "w") as tar:
            for name, data in FILES:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["tar.gz", "tar", "zip"])
def test_mutated_archives_unpack_or_fail_in_one_line(worker, tmp_path, kind):
    seed, path = _seed(kind), tmp_path / f"mutated.{kind}"
    outcomes = fuzz_outcomes(worker, "archive", seed, path)
    assert outcomes["error"] > 0, outcomes
