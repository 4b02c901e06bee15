"""Unpack a data-set archive (.tar.gz, .tar or .zip) without trusting it.

pix2pix data sets are folders of images, so an archive may hold regular files and
directories and nothing else: every symlink, hardlink, device, FIFO or socket member is
refused by its *type* (tar header type, or the Unix mode a zip stores), and so is every
absolute name, `..` component, repeated name or over-long path. We write the members
ourselves (tarfile.extract and its filters are not used): a directory is created with
mkdir, a file with O_CREAT | O_EXCL | O_NOFOLLOW, and since no link is ever created, a
name that passes the lexical check cannot lead outside the folder we unpack into.

Archives can also be bombs (a 1.3 MB archive that unpacks to 1.1 GB in 50k files), so
ExtractLimits bounds the member count, the total unpacked size and its ratio to the
archive's size, checked from the headers before a member's data is written (and a member
must then hold exactly the bytes its header declares); a tar header itself may be no
larger than 1 MiB (a pax header that declares gigabytes would otherwise be read into
memory by tarfile).

Every refusal is one ArchiveError line naming the archive and the member. The caller
unpacks into a fresh temporary folder and deletes it on any failure (download.py).
"""
from __future__ import annotations

import gzip
import os
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from p2p_cupy.errors import P2PError

CHUNK = 1 << 20
MAX_HEADER_BYTES = 1 << 20     # read between two tar members: headers, padding
MAX_NAME_CHARS = 1024
MAX_COMPONENT_BYTES = 255


class ArchiveError(P2PError, ValueError):
    """An archive we refuse to unpack, or cannot; the message names it and the member."""


class DamagedArchiveError(ArchiveError):
    """The archive's bytes are broken (not a policy refusal): downloading again may help."""


@dataclass(frozen=True)
class ExtractLimits:
    """Bounds on what one archive may unpack to. The defaults fit the official data sets
    with room to spare (edges2handbags: 139k files, 8.6 GB; edges2shoes: 50k files, 2.2 GB;
    images barely compress, so their ratio is about 1)."""
    max_members: int = 300_000
    max_total_bytes: int = 32 << 30
    max_ratio: float = 20.0     # unpacked bytes / archive bytes


def archive_kind(path: Path) -> str:
    """"tar.gz", "tar" or "zip", from the file's first bytes (not its name)."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head[:2] == b"\x1f\x8b":
        return "tar.gz"
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    raise ArchiveError(f"{path}: not a .tar.gz, .tar or .zip archive")


class _Budget:
    """What the members so far add up to, against the limits."""

    def __init__(self, archive: Path, limits: ExtractLimits):
        self.archive, self.limits = archive, limits
        self.max_bytes = min(limits.max_total_bytes,
                             int(limits.max_ratio * max(archive.stat().st_size, 1)))
        self.members, self.bytes, self.last = 0, 0, None

    def add_member(self, name: str, size: int):
        self.members, self.last = self.members + 1, name
        if self.members > self.limits.max_members:
            raise ArchiveError(f"{self.archive}: more than {self.limits.max_members:,} members "
                               f"(at {name!r}); raise --max-files if the archive is genuine")
        self.bytes += size
        if self.bytes > self.max_bytes:
            raise ArchiveError(
                f"{self.archive}: unpacks to more than {self.max_bytes:,} bytes (at member "
                f"{name!r}): the limits are --max-size {self.limits.max_total_bytes:,} bytes "
                f"and --max-ratio {self.limits.max_ratio:g} times the archive's size")


def _plain_parts(name: str) -> list:
    return [p for p in PurePosixPath(name).parts if p != "."]


def safe_relative_path(archive: Path, name: str) -> PurePosixPath:
    """The member's path relative to the unpack folder, or ArchiveError: no absolute path,
    no `..`, no empty or over-long name, nothing but plain components."""
    path = PurePosixPath(name)
    parts = _plain_parts(name)
    if not name or path.is_absolute() or name.startswith("\\") or ".." in parts or \
            "\x00" in name or len(name) > MAX_NAME_CHARS or not parts or \
            any(len(p.encode("utf-8", "surrogateescape")) > MAX_COMPONENT_BYTES
                for p in parts):
        raise ArchiveError(f"{archive}: unsafe member name {name[:200]!r} (absolute, '..', "
                           "empty or too long)")
    return PurePosixPath(*parts)


class _Writer:
    """Creates the members under `dest`, which must be a fresh, empty folder."""

    def __init__(self, archive: Path, dest: Path, budget: _Budget):
        self.archive, self.dest, self.budget = archive, dest, budget

    def directory(self, rel: PurePosixPath):
        target = self.dest.joinpath(*rel.parts)
        try:
            for parent in reversed(target.relative_to(self.dest).parents):
                self._mkdir(self.dest / parent)
            self._mkdir(target)
        except OSError as e:
            raise ArchiveError(f"{self.archive}: cannot create {rel} ({e.strerror})") from None

    def _mkdir(self, path: Path):
        if path == self.dest:
            return
        try:
            path.mkdir()
        except FileExistsError:
            if path.is_symlink() or not path.is_dir():    # we never make links; belt and braces
                raise ArchiveError(f"{self.archive}: member {path.relative_to(self.dest)} is "
                                   "both a file and a folder") from None

    def file(self, rel: PurePosixPath, source, size: int):
        """Copy exactly `size` bytes from source (a binary file object) into dest/rel."""
        if len(rel.parts) > 1:
            self.directory(rel.parent)
        target = self.dest.joinpath(*rel.parts)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(target, flags, 0o644)
        except FileExistsError:
            raise ArchiveError(f"{self.archive}: member {rel} appears twice") from None
        except OSError as e:
            raise ArchiveError(f"{self.archive}: cannot create {rel} ({e.strerror})") from None
        written = 0
        with os.fdopen(fd, "wb") as out:
            while written < size:
                chunk = source.read(min(CHUNK, size - written))
                if not chunk:
                    raise DamagedArchiveError(f"{self.archive}: member {rel} is truncated "
                                              f"({written:,} of {size:,} bytes)")
                try:
                    out.write(chunk)
                except OSError as e:     # a full disk: ours to report, not the archive's
                    raise ArchiveError(f"{self.archive}: cannot write {rel} "
                                       f"({e.strerror})") from None
                written += len(chunk)
        if source.read(1):
            raise ArchiveError(f"{self.archive}: member {rel} holds more than its declared "
                               f"{size:,} bytes")


class _HeaderCap:
    """A read-only file object over the tar stream that refuses more than
    MAX_HEADER_BYTES read between two members' data (headers and padding)."""

    def __init__(self, raw, archive: Path):
        self.raw, self.archive = raw, archive
        self.since_member, self.in_member, self.last_member = 0, False, None

    def read(self, n=-1):
        data = self.raw.read(n)
        if not self.in_member:
            self.since_member += len(data)
            if self.since_member > MAX_HEADER_BYTES:
                after = f"after member {self.last_member!r}" if self.last_member else \
                    "at the start"
                raise ArchiveError(f"{self.archive}: a tar header of more than "
                                   f"{MAX_HEADER_BYTES:,} bytes {after}")
        return data

    def member_data(self, name):
        self.in_member, self.last_member = True, name

    def member_done(self):
        self.in_member, self.since_member = False, 0


class _Progressing:
    """The raw archive file, calling progress(n) with every read's size."""

    def __init__(self, raw, progress):
        self.raw, self.progress = raw, progress

    def read(self, n=-1):
        data = self.raw.read(n)
        if self.progress:
            self.progress(len(data))
        return data


TAR_TYPE_NAMES = {tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink",
                  tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device",
                  tarfile.FIFOTYPE: "FIFO", tarfile.GNUTYPE_SPARSE: "sparse file"}


def _tar_members(archive: Path, dest: Path, budget: _Budget, kind: str, progress):
    with open(archive, "rb") as raw:
        stream = _Progressing(raw, progress)
        if kind == "tar.gz":
            stream = gzip.GzipFile(fileobj=stream, mode="rb")
        reader = _HeaderCap(stream, archive)
        writer = _Writer(archive, dest, budget)
        with tarfile.open(fileobj=reader, mode="r|") as tar:     # one pass, in order
            for member in tar:
                if member.isdir() and not _plain_parts(member.name):
                    continue                     # "./": the folder we unpack into
                rel = safe_relative_path(archive, member.name)
                if not (member.isreg() or member.isdir()) or member.issparse():
                    kind_name = TAR_TYPE_NAMES.get(member.type, f"type {member.type!r}")
                    raise ArchiveError(f"{archive}: member {member.name!r} is a {kind_name}; "
                                       "a data set holds only files and folders")
                budget.add_member(member.name, member.size if member.isreg() else 0)
                if member.isdir():
                    writer.directory(rel)
                    continue
                reader.member_data(member.name)
                writer.file(rel, tar.extractfile(member), member.size)
                reader.member_done()
        while reader.read(CHUNK):      # to the end: a gzip checks its CRC only there
            pass


ZIP_REFUSED_MODES = {stat.S_IFLNK: "symlink", stat.S_IFCHR: "character device",
                     stat.S_IFBLK: "block device", stat.S_IFIFO: "FIFO",
                     stat.S_IFSOCK: "socket"}


def _zip_members(archive: Path, dest: Path, budget: _Budget, progress):
    writer = _Writer(archive, dest, budget)
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        for info in infos:                       # the whole directory first: it is small
            safe_relative_path(archive, info.filename)
            file_type = stat.S_IFMT(info.external_attr >> 16)
            if file_type in ZIP_REFUSED_MODES:
                raise ArchiveError(f"{archive}: member {info.filename!r} is a "
                                   f"{ZIP_REFUSED_MODES[file_type]}; a data set holds only "
                                   "files and folders")
            if info.flag_bits & 0x1:
                raise ArchiveError(f"{archive}: member {info.filename!r} is encrypted")
            budget.add_member(info.filename, 0 if info.is_dir() else info.file_size)
        for info in infos:
            rel = safe_relative_path(archive, info.filename)
            budget.last = info.filename           # for a damage report
            if info.is_dir():
                writer.directory(rel)
                continue
            with z.open(info) as source:
                writer.file(rel, source, info.file_size)
            if progress:
                progress(info.compress_size)


# What tarfile, gzip, zlib and zipfile raise on damaged archives (EOFError: truncated gzip;
# NotImplementedError, a RuntimeError: an unknown zip compression; OSError: a seek to an
# offset the archive made up; the writer reports its own OSErrors as ArchiveError first).
DAMAGE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, gzip.BadGzipFile,
                 EOFError, RuntimeError, ValueError, KeyError, OSError)


def unpack(archive, dest, limits: ExtractLimits = ExtractLimits(), progress=None):
    """Unpack archive into dest (a fresh, empty folder). progress(n): n more archive
    bytes were consumed."""
    archive, dest = Path(archive), Path(dest)
    kind = archive_kind(archive)
    budget = _Budget(archive, limits)
    try:
        if kind == "zip":
            _zip_members(archive, dest, budget, progress)
        else:
            _tar_members(archive, dest, budget, kind, progress)
    except P2PError:
        raise
    except DAMAGE_ERRORS as e:
        where = f"after member {budget.last!r}" if budget.last else "before its first member"
        reason = " ".join(str(e).split())[:200]
        raise DamagedArchiveError(f"{archive}: damaged archive, {where} "
                                  f"({type(e).__name__}: {reason})") from None
    return budget
