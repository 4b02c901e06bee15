"""`p2p data download NAME`: the official pix2pix data sets, resumable and safely unpacked.

The archive is fetched to ROOT/NAME.tar.gz.part (.zip or .tar when a --url names one); an
interrupted download continues from the partial file with an HTTP Range request (a server
that ignores Range sends the whole file, and we start over). The finished file must have
the size the server announced and be a .tar.gz, .tar or .zip by its first bytes; only then
is it renamed to NAME.tar.gz and unpacked.

Its SHA-256 is printed, checked against --sha256 when given (a mismatch deletes the
download) and, once unpacked, recorded in ROOT/SHA256SUMS (the `sha256sum -c` format).

Unpacking never trusts the archive (archive.py: files and folders only, no links or
devices, no name leaving the folder, limits on count and size). It happens in a fresh
temporary folder inside ROOT, deleted on any failure, whose NAME/ is renamed to ROOT/NAME
only once complete.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from p2p_cupy.data.archive import (ArchiveError, DamagedArchiveError, ExtractLimits,
                                   archive_kind, unpack)
from p2p_cupy.errors import P2PError

BASE_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets"
DATASETS = ("facades", "maps", "edges2shoes", "edges2handbags", "night2day")
CHUNK = 1 << 16
MANIFEST = "SHA256SUMS"
# a data set from another URL: one plain folder name (no separators, no "..", no dot first)
CUSTOM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


class DownloadError(P2PError, ValueError):
    """A download that failed or that we refuse (bad name, wrong checksum)."""


def official_url(name: str) -> str:
    if name not in DATASETS:
        raise DownloadError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)} "
                           "(or give --url)")
    return f"{BASE_URL}/{name}.tar.gz"


def check_name(name: str) -> str:
    """NAME becomes ROOT/NAME: with --url it may be any plain folder name, nothing else."""
    if not CUSTOM_NAME.fullmatch(name) or ".." in name:
        raise DownloadError(f"data set name {name[:80]!r}: expected a plain folder name (letters, "
                           "digits, '_', '-', '.'; no '/' or '..'; at most 64 characters)")
    return name


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
            raise DownloadError(f"{url}: download failed ({e})") from None
        return _verified(part, dest, url, None)
    except OSError as e:
        raise DownloadError(f"{url}: download failed ({e})") from None
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
                raise DownloadError(f"{url}: download interrupted after {progress.done} bytes "
                                 f"({type(e).__name__}); run again to resume") from None
        progress.update(0, final=True)
    return _verified(part, dest, url, total)


def _verified(part: Path, dest: Path, url: str, total) -> Path:
    """Rename part to dest once it has the announced size and is an archive we can open."""
    got = part.stat().st_size
    if total is not None and got != total:
        raise DownloadError(f"{part}: incomplete download, {got} of {total} bytes (run the "
                           f"command again to resume)")
    try:
        archive_kind(part)
    except ArchiveError:
        part.unlink()
        raise DownloadError(f"{url}: not a .tar.gz, .tar or .zip archive; the file was "
                           "removed") from None
    os.replace(part, dest)
    return dest


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK * 16):
            digest.update(chunk)
    return digest.hexdigest()


def record_sha256(archive: Path, hexdigest: str) -> Path:
    """Put "HEX  NAME" for the archive into ROOT/SHA256SUMS (replacing its old line)."""
    manifest = archive.parent / MANIFEST
    lines = manifest.read_text().splitlines() if manifest.exists() else []
    lines = [line for line in lines if line.split("  ", 1)[-1] != archive.name]
    lines.append(f"{hexdigest}  {archive.name}")
    tmp = manifest.with_name(f".tmp-{os.getpid()}-{MANIFEST}")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, manifest)
    return manifest


def verify_sha256(archive: Path, expected) -> str:
    """The archive's SHA-256; if `expected` is given and differs, the archive is deleted
    and DownloadError raised."""
    hexdigest = sha256_of(archive)
    if expected is not None and hexdigest != expected.lower():
        archive.unlink()
        raise DownloadError(f"{archive}: SHA-256 is {hexdigest}, expected {expected.lower()}; "
                           "the download was deleted")
    return hexdigest


def _refuse_foreign_target(target: Path):
    """ROOT/NAME without train/: an empty folder is removed, anything else is the user's."""
    if not (target.exists() or target.is_symlink()):
        return
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        target.rmdir()
        return
    raise DownloadError(f"{target} already exists but is not a complete data set (no train/ "
                       "folder): move it away or delete it, then run the command again")


def extract(archive: Path, root: Path, name: str, limits: ExtractLimits = ExtractLimits(),
            stream=None) -> Path:
    """Unpack archive (holding NAME/...) into root/NAME, atomically: into a temporary
    folder inside root, deleted on any failure, whose NAME/ is renamed into place."""
    stream = stream or sys.stderr
    tmp = root / f".tmp-extract-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    progress = _Progress(f"unpacking {archive.name}", archive.stat().st_size, 0, stream)
    try:
        budget = unpack(archive, tmp, limits, progress.update)
        progress.update(0, final=True)
        if not (tmp / name).is_dir():
            raise ArchiveError(f"{archive}: expected a top-level folder {name}/ in the archive")
        _refuse_foreign_target(root / name)
        os.rename(tmp / name, root / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stream.write(f"unpacked {budget.members:,} members, {budget.bytes / 1e6:.1f} MB\n")
    return root / name


def download(name: str, root="datasets", url=None, stream=None, sha256=None,
             limits: ExtractLimits = ExtractLimits()) -> Path:
    """ROOT/NAME with train/ (val/, test/) folders of AB images; url overrides the
    official one (mirrors, tests; then NAME may be any plain folder name). sha256: the
    archive's expected SHA-256 (hex). Does nothing if ROOT/NAME/train already exists."""
    stream = stream or sys.stderr
    url = url or official_url(name)
    check_name(name)
    if sha256 is not None and not SHA256_HEX.fullmatch(sha256):
        raise DownloadError(f"--sha256 {sha256[:80]!r}: expected 64 hexadecimal digits")
    root = Path(root)
    target = root / name
    if (target / "train").is_dir():
        return target
    _refuse_foreign_target(target)                # before spending a download on it
    root.mkdir(parents=True, exist_ok=True)
    suffix = next((s for s in (".zip", ".tar") if url.lower().endswith(s)), ".tar.gz")
    archive = root / f"{name}{suffix}"
    if not archive.exists():
        fetch(url, archive, stream)
    hexdigest = verify_sha256(archive, sha256)
    stream.write(f"sha256 {hexdigest}  {archive.name}\n")
    try:
        extract(archive, root, name, limits, stream)
    except DamagedArchiveError as e:          # broken bytes: the next run downloads anew
        archive.unlink()
        raise DamagedArchiveError(f"{e}; the archive was deleted, run again to download it "
                                  "anew") from None
    stream.write(f"recorded its SHA-256 in {record_sha256(archive, hexdigest)}\n")
    archive.unlink()
    return target
