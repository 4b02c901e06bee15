"""Hostile archives. Each is unpacked through `download` (a file:// URL) next to a folder
of the user's files, and must end in one ArchiveError line naming the archive and the
member, with nothing written anywhere but ROOT (and nothing left in ROOT but the
archive): no file outside, no link anywhere, no half-unpacked data set."""
import hashlib
import io
import os
import stat
import tarfile
import zipfile

import pytest
from click.testing import CliRunner

from p2p_cupy.cli.main import main
from p2p_cupy.data.archive import ArchiveError, DamagedArchiveError, ExtractLimits
from p2p_cupy.data.download import DownloadError, download

GOOD = [("facades/train/1.jpg", b"one"), ("facades/val/1.jpg", b"two")]


def tar_member(name, data=b"", kind=tarfile.REGTYPE, linkname="", size=None, pax=None):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    info.size = len(data) if size is None else size
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    if pax:
        info.pax_headers = pax
    return info, data


def write_tar(path, members, mode="w:gz"):
    """members: (TarInfo, data) pairs, or (name, bytes) for plain files."""
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            info, data = member if isinstance(member[0], tarfile.TarInfo) else \
                tar_member(*member)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def write_zip(path, members, compression=zipfile.ZIP_DEFLATED):
    """members: (name, bytes) or (ZipInfo, bytes)."""
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members:
            z.writestr(name, data)
    return path


def zip_info(name, mode):
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return info


def _snapshot(base):
    return {str(p.relative_to(base)): p.is_symlink() for p in base.rglob("*")}


@pytest.fixture
def place(tmp_path):
    """(root, outside): ROOT for the download, and a sibling folder of the user's files
    that a hostile archive aims at."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    return tmp_path / "root", outside


def refused(place, archive, problem, error=ArchiveError, **kw):
    """Download archive into ROOT; assert the refusal and that nothing escaped."""
    root, outside = place
    before = _snapshot(outside.parent)
    with pytest.raises(error, match=problem) as info:
        download("facades", root, archive.as_uri(), stream=io.StringIO(), **kw)
    message = str(info.value)
    assert "\n" not in message and (archive.name in message or "facades." in message)
    after = _snapshot(outside.parent)
    assert not any(after.values()), "a link was created"
    new = {p for p in set(after) - set(before) if p.split(os.sep)[0] != root.name}
    assert not new, f"written outside ROOT: {new}"
    assert (outside / "precious.txt").read_text() == "keep me"
    assert not (root / "facades").exists() and not list(root.glob(".tmp-*"))
    return message


TAR_ATTACKS = {
    # the symlink chain that passed the old lexical check: a -> ., l -> a/a/a/../../../..
    "symlink chain": [tar_member("facades/a", kind=tarfile.SYMTYPE, linkname="."),
                      tar_member("facades/l", kind=tarfile.SYMTYPE,
                                 linkname="a/a/a/../../../.."),
                      ("facades/l/outside/evil.txt", b"pwned")],
    # CVE-2025-4517's shape: long directory names so that realpath() gives up, then links
    "long-path symlinks": [tar_member("facades/" + "d" * 247, kind=tarfile.DIRTYPE)]
    + [tar_member("facades/" + "/".join(["d" * 247] * i) + "/l", kind=tarfile.SYMTYPE,
                  linkname="../" * 3) for i in range(1, 4)]
    + [("facades/" + "d" * 247 + "/l/l/l/outside/precious.txt", b"overwritten")],
    "symlink to an absolute path": [tar_member("facades/train/p", kind=tarfile.SYMTYPE,
                                               linkname="/etc/passwd")],
    "harmless-looking symlink": [*GOOD, tar_member("facades/train/2.jpg",
                                                   kind=tarfile.SYMTYPE, linkname="1.jpg")],
    "hardlink outside": [tar_member("facades/train/h", kind=tarfile.LNKTYPE,
                                    linkname="../../outside/precious.txt")],
    "hardlink inside": [*GOOD, tar_member("facades/train/h", kind=tarfile.LNKTYPE,
                                          linkname="facades/train/1.jpg")],
    "character device": [tar_member("facades/null", kind=tarfile.CHRTYPE)],
    "block device": [tar_member("facades/disk", kind=tarfile.BLKTYPE)],
    "FIFO": [tar_member("facades/fifo", kind=tarfile.FIFOTYPE)],
    "absolute name": [("/tmp/evil.txt", b"x")],
    "double-slash absolute name": [("//tmp/evil.txt", b"x")],
    "dot-dot name": [("facades/../../outside/precious.txt", b"overwritten")],
    "dot-slash dot-dot name": [("./../outside/evil.txt", b"x")],
    "dot-dot only": [tar_member("..", kind=tarfile.DIRTYPE)],
    "empty file name": [(".", b"x")],
    "over-long component": [("facades/" + "x" * 300, b"x")],
    "duplicate member": [*GOOD, ("facades/train/1.jpg", b"again")],
    "file then folder of the same name": [("facades/x", b"x"), ("facades/x/y", b"y")],
}
TAR_PROBLEMS = {
    "symlink chain": "member 'facades/a' is a symlink",
    "long-path symlinks": "is a symlink",
    "symlink to an absolute path": "'facades/train/p' is a symlink",
    "harmless-looking symlink": "'facades/train/2.jpg' is a symlink",
    "hardlink outside": "'facades/train/h' is a hardlink",
    "hardlink inside": "'facades/train/h' is a hardlink",
    "character device": "'facades/null' is a character device",
    "block device": "'facades/disk' is a block device",
    "FIFO": "'facades/fifo' is a FIFO",
    "absolute name": "unsafe member name '/tmp/evil.txt'",
    "double-slash absolute name": "unsafe member name '//tmp/evil.txt'",
    "dot-dot name": "unsafe member name 'facades/../../outside/precious.txt'",
    "dot-slash dot-dot name": "unsafe member name",
    "dot-dot only": "unsafe member name '..'",
    "empty file name": "unsafe member name",
    "over-long component": "unsafe member name",
    "duplicate member": "member facades/train/1.jpg appears twice",
    "file then folder of the same name": "member facades/x is both a file and a folder",
}


@pytest.mark.parametrize("attack", TAR_ATTACKS)
@pytest.mark.parametrize("mode", ["w:gz", "w"], ids=["tar.gz", "tar"])
def test_hostile_tar_members_are_refused_and_nothing_escapes(place, tmp_path, attack, mode):
    archive = write_tar(tmp_path / f"evil.{mode}", TAR_ATTACKS[attack], mode)
    refused(place, archive, TAR_PROBLEMS[attack])


ZIP_ATTACKS = {
    "symlink": ([(zip_info("facades/l", stat.S_IFLNK | 0o777), b"../../outside")],
                "'facades/l' is a symlink"),
    "FIFO": ([(zip_info("facades/f", stat.S_IFIFO | 0o644), b"")], "'facades/f' is a FIFO"),
    "character device": ([(zip_info("facades/c", stat.S_IFCHR | 0o644), b"")],
                         "is a character device"),
    "block device": ([(zip_info("facades/b", stat.S_IFBLK | 0o644), b"")],
                     "is a block device"),
    "socket": ([(zip_info("facades/s", stat.S_IFSOCK | 0o644), b"")], "is a socket"),
    "absolute name": ([("/tmp/evil.txt", b"x")], "unsafe member name '/tmp/evil.txt'"),
    "dot-dot name": ([("facades/../../outside/precious.txt", b"x")], "unsafe member name"),
    "duplicate member": ([*GOOD, ("facades/train/1.jpg", b"again")], "appears twice"),
}


@pytest.mark.parametrize("attack", ZIP_ATTACKS)
def test_hostile_zip_members_are_refused_and_nothing_escapes(place, tmp_path, attack):
    members, problem = ZIP_ATTACKS[attack]
    with pytest.warns(UserWarning) if attack == "duplicate member" else _no_warning():
        archive = write_zip(tmp_path / "evil.zip", [*GOOD, *members])
    refused(place, archive, problem)


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_an_encrypted_zip_member_is_refused(place, tmp_path):
    archive = write_zip(tmp_path / "enc.zip", GOOD)
    data = bytearray(archive.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        data[at + flag_at] |= 1
    archive.write_bytes(bytes(data))
    refused(place, archive, "'facades/train/1.jpg' is encrypted")


def test_a_bomb_is_refused_by_its_ratio_before_its_data_is_written(place, tmp_path):
    # 50 MB of zeros compress to ~50 kB: a ratio of ~1000 (the limit is 20)
    archive = write_tar(tmp_path / "bomb.tar.gz", [*GOOD, ("facades/zeros", bytes(50 << 20))])
    assert archive.stat().st_size < 200_000
    refused(place, archive, r"unpacks to more than [\d,]+ bytes \(at member 'facades/zeros'\)")
    archive = write_zip(tmp_path / "bomb.zip", [*GOOD, ("facades/zeros", bytes(50 << 20))])
    refused(place, archive, "unpacks to more than")


def test_a_header_that_lies_about_its_size_is_refused_before_reading(place, tmp_path):
    info, _ = tar_member("facades/huge", size=10 << 30)       # declares 10 GB, holds 0
    archive = tmp_path / "liar.tar"
    with open(archive, "wb") as f:
        f.write(info.tobuf(tarfile.GNU_FORMAT) + bytes(1024))
    refused(place, archive, "at member 'facades/huge'")


@pytest.mark.parametrize("limits, problem", [
    (ExtractLimits(max_members=10), "more than 10 members .*--max-files"),
    (ExtractLimits(max_total_bytes=1000), "unpacks to more than 1,000 bytes"),
])
def test_member_count_and_total_size_limits(place, tmp_path, limits, problem):
    files = [(f"facades/train/{i}.jpg", bytes(100)) for i in range(11)]
    archive = write_tar(tmp_path / "many.tar.gz", files)
    refused(place, archive, problem, limits=limits)
    root, _ = place
    download("facades", root, archive.as_uri(), stream=io.StringIO())   # defaults: fine
    assert len(list((root / "facades" / "train").iterdir())) == 11


def test_a_giant_pax_header_is_refused_without_reading_it_into_memory(place, tmp_path):
    info, data = tar_member("facades/train/1.jpg", b"x", pax={"comment": "c" * (4 << 20)})
    archive = write_tar(tmp_path / "pax.tar.gz", [info and (info, data)])
    refused(place, archive, "a tar header of more than 1,048,576 bytes at the start")


def test_damaged_and_truncated_archives_are_deleted_for_a_fresh_download(place, tmp_path):
    good = write_tar(tmp_path / "good.tar.gz", [*GOOD, ("facades/train/big", os.urandom(5000))])
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:-2000])
    refused(place, cut, "damaged archive, .*deleted", DamagedArchiveError)
    root, _ = place
    assert not (root / "facades.tar.gz").exists()
    flipped = bytearray(good.read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF
    cut.write_bytes(bytes(flipped))
    refused(place, cut, "damaged archive", DamagedArchiveError)


def test_a_dot_slash_root_and_other_top_level_entries_are_fine(place, tmp_path):
    archive = write_tar(tmp_path / "dot.tar.gz", [tar_member("./", kind=tarfile.DIRTYPE),
                                                  ("./facades/train/1.jpg", b"one"),
                                                  ("README", b"ignored")])
    root, _ = place
    target = download("facades", root, archive.as_uri(), stream=io.StringIO())
    assert (target / "train" / "1.jpg").read_bytes() == b"one"
    assert sorted(p.name for p in root.iterdir()) == ["SHA256SUMS", "facades"]


def test_the_sha256_is_printed_recorded_and_verified(place, tmp_path):
    archive = write_tar(tmp_path / "facades.tar.gz", GOOD)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    root, _ = place
    out = io.StringIO()
    download("facades", root, archive.as_uri(), stream=out, sha256=digest.upper())
    assert f"sha256 {digest}  facades.tar.gz" in out.getvalue()
    assert (root / "SHA256SUMS").read_text() == f"{digest}  facades.tar.gz\n"
    download("maps", root, write_tar(tmp_path / "maps.tar.gz", [("maps/train/1", b"m")]).as_uri(),
             stream=io.StringIO())
    assert len((root / "SHA256SUMS").read_text().splitlines()) == 2
    message = refused((root.parent / "r2", place[1]), archive,
                      f"SHA-256 is {digest}, expected {'0' * 64}; the download was deleted",
                      DownloadError, sha256="0" * 64)
    assert "facades.tar.gz" in message and not (root.parent / "r2" / "facades.tar.gz").exists()
    with pytest.raises(DownloadError, match="expected 64 hexadecimal digits"):
        download("night2day", root, archive.as_uri(), stream=io.StringIO(), sha256="abc")


@pytest.mark.parametrize("name", ["../evil", "/abs", "a/b", ".hidden", "..", "x" * 65,
                                  "facades\n", "", "a\\b", "ok..no"])
def test_data_set_names_with_path_tricks_are_refused(place, tmp_path, name):
    archive = write_tar(tmp_path / "f.tar.gz", GOOD)
    root, outside = place
    with pytest.raises(DownloadError, match="expected a plain folder name"):
        download(name, root, archive.as_uri(), stream=io.StringIO())
    assert not root.exists()
    with pytest.raises(DownloadError, match="unknown data set"):
        download(name, root, stream=io.StringIO())


def test_cli_names_a_bad_name_and_an_unfinished_folder_in_one_line(place, tmp_path):
    archive = write_tar(tmp_path / "f.tar.gz", GOOD)
    root, _ = place
    result = CliRunner().invoke(main, ["data", "download", "../../x", "--root", str(root),
                                       "--url", archive.as_uri()])
    assert result.exit_code == 1 and "expected a plain folder name" in result.output
    (root / "facades").mkdir(parents=True)                 # empty: taken over
    result = CliRunner().invoke(main, ["data", "download", "facades", "--root", str(root),
                                       "--url", archive.as_uri()])
    assert result.exit_code == 0, result.output
    (root / "maps").mkdir()
    (root / "maps" / "notes.txt").write_text("mine")      # the ENOTEMPTY case
    result = CliRunner().invoke(main, ["data", "download", "maps", "--root", str(root),
                                       "--url", archive.as_uri()])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "maps already exists but is not a complete data set" in result.output
    assert (root / "maps" / "notes.txt").read_text() == "mine"
    result = CliRunner().invoke(main, ["data", "download", "x", "--root", str(root), "--url",
                                       archive.as_uri(), "--max-size", "lots"])
    assert result.exit_code == 2 and "--max-size" in result.output
