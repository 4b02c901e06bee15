"""`p2p data download NAME`: the official pix2pix data sets, resumable and safely unpacked.

The archive is fetched to ROOT/NAME.tar.gz.part; an interrupted download continues from
the partial file with an HTTP Range request (a server that ignores Range sends the whole
file, and we start over). The finished file must have the size the server announced and
be a readable tar.gz; only then is it renamed to NAME.tar.gz and unpacked.

Unpacking never trusts the archive: every member must stay inside the target folder (no
absolute path, no `..`, no link pointing outside, no device file), checked before anything
is written, and the result is assembled in a temporary folder then renamed to ROOT/NAME.
"""
from __future__ import annotations

import http.client
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

BASE_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets"
DATASETS = ("facades", "maps", "edges2shoes", "edges2handbags", "night2day")
CHUNK = 1 << 16


def official_url(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    return f"{BASE_URL}/{name}.tar.gz"


class _Progress:
    """One line on stderr, redrawn at most 10 times a second."""

    def __init__(self, label, total, done, stream):
        self.label, self.total, self.done, self.stream = label, total, done, stream
        self.start, self.start_done, self.last = time.monotonic(), done, 0.0

    def update(self, n, final=False):
        self.done += n
        now = time.monotonic()
        if not final and now - self.last < 0.1:
            return
        self.last = now
        speed = (self.done - self.start_done) / max(now - self.start, 1e-6) / 1e6
        size = f"{self.done / 1e6:.1f}" + (f"/{self.total / 1e6:.1f}" if self.total else "")
        pct = f"{100 * self.done / self.total:3.0f}% " if self.total else ""
        self.stream.write(f"\r{self.label}  {pct}{size} MB  {speed:.1f} MB/s")
        if final:
            self.stream.write("\n")
        self.stream.flush()


def fetch(url: str, dest: Path, stream=None) -> Path:
    """Download url to dest, resuming dest.part if present; verified size."""
    stream = stream or sys.stderr
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as e:
        if not (e.code == 416 and have):     # 416: nothing after `have`, the part is whole
            raise ValueError(f"{url}: download failed ({e})") from None
        return _verified(part, dest, url, None)
    except OSError as e:
        raise ValueError(f"{url}: download failed ({e})") from None
    with response:
        resumed = have and getattr(response, "status", None) == 206
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        progress = _Progress(dest.name, total, have, stream)
        with open(part, "ab" if resumed else "wb") as f:
            try:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    progress.update(len(chunk))
            except (OSError, http.client.HTTPException) as e:
                progress.update(0, final=True)
                raise ValueError(f"{url}: download interrupted after {progress.done} bytes "
                                 f"({type(e).__name__}); run again to resume") from None
        progress.update(0, final=True)
    return _verified(part, dest, url, total)


def _verified(part: Path, dest: Path, url: str, total) -> Path:
    """Rename part to dest once it has the announced size and opens as a tar.gz."""
    got = part.stat().st_size
    if total is not None and got != total:
        raise ValueError(f"{part}: incomplete download, {got} of {total} bytes (run the "
                         f"command again to resume)")
    try:
        with tarfile.open(part, "r:gz") as tar:
            tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as e:
        part.unlink()
        raise ValueError(f"{url}: not a readable .tar.gz ({e}); the file was removed") from None
    os.replace(part, dest)
    return dest


def _checked_members(tar: tarfile.TarFile, target: Path):
    """The archive's members, after refusing any that would land outside target."""
    root = target.resolve()
    members = tar.getmembers()
    for m in members:
        name = PurePosixPath(m.name)
        if name.is_absolute() or ".." in name.parts or \
                not (root / m.name).resolve().is_relative_to(root):
            raise ValueError(f"{tar.name}: unsafe member path {m.name!r}")
        if m.isdev():
            raise ValueError(f"{tar.name}: device file {m.name!r} refused")
        if m.issym() or m.islnk():
            base = (root / m.name).parent if m.issym() else root
            link = PurePosixPath(m.linkname)
            if link.is_absolute() or not (base / m.linkname).resolve().is_relative_to(root):
                raise ValueError(f"{tar.name}: link {m.name!r} -> {m.linkname!r} leaves the "
                                 f"target folder")
    return members


def extract(archive: Path, root: Path, name: str) -> Path:
    """Unpack archive (holding NAME/...) into root/NAME, atomically."""
    tmp = root / f".tmp-extract-{name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(archive, "r:gz") as tar:
        members = _checked_members(tar, tmp)
        if hasattr(tarfile, "data_filter"):       # Python >= 3.11.4: a second guard
            tar.extractall(tmp, members=members, filter="data")
        else:
            tar.extractall(tmp, members=members)
    if not (tmp / name).is_dir():
        shutil.rmtree(tmp)
        raise ValueError(f"{archive}: expected a top-level folder {name}/ in the archive")
    os.replace(tmp / name, root / name)
    shutil.rmtree(tmp)
    return root / name


def download(name: str, root="datasets", url=None, stream=None) -> Path:
    """ROOT/NAME with train/ (val/, test/) folders of AB images; url overrides the
    official one (mirrors, tests). Does nothing if ROOT/NAME/train already exists."""
    url = url or official_url(name)
    root = Path(root)
    target = root / name
    if (target / "train").is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    archive = root / f"{name}.tar.gz"
    if not archive.exists():
        fetch(url, archive, stream)
    extract(archive, root, name)
    archive.unlink()
    return target
