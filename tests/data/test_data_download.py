import http.server
import io
import tarfile
import threading

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from p2p_cupy.cli.main import main
from p2p_cupy.data import AlignedDataset, Preprocess
from p2p_cupy.data.archive import ArchiveError, DamagedArchiveError
from p2p_cupy.data.download import download, official_url


def _jpeg(seed):
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (16, 32, 3), np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _archive(path, members):
    """A .tar.gz of (name, bytes) files, plus links given as (name, None, linkname)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data, *link in members:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link[0]
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def facades_tgz(tmp_path_factory):
    """The real layout: facades/{train,val,test}/N.jpg, AB side by side."""
    files = [(f"facades/{phase}/{i}.jpg", _jpeg(i)) for phase in ("train", "val", "test")
             for i in range(1, 4)]
    return _archive(tmp_path_factory.mktemp("srv") / "facades.tar.gz", files)


class _Server:
    """127.0.0.1 server of one file with HTTP Range support; `cut` truncates the next
    response (a dropped connection); `requests` records the Range headers seen."""

    def __init__(self, payload):
        self.payload, self.cut, self.requests = payload, None, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append(rng)
                start = int(rng.split("=")[1].rstrip("-")) if rng else 0
                if start >= len(server.payload):
                    self.send_error(416)
                    return
                body = server.payload[start:]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut is not None:
                    body, server.cut = body[:server.cut], None
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/facades.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(facades_tgz):
    s = _Server(facades_tgz.read_bytes())
    yield s
    s.close()


def test_official_urls():
    assert official_url("edges2shoes") == \
        "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/edges2shoes.tar.gz"
    with pytest.raises(ValueError, match="unknown data set 'cats'"):
        official_url("cats")


def test_an_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    server.cut = 800
    err = io.StringIO()
    with pytest.raises(ValueError, match=r"incomplete download, 800 of \d+ bytes"):
        download("facades", tmp_path, server.url, stream=err)
    assert (tmp_path / "facades.tar.gz.part").stat().st_size == 800
    target = download("facades", tmp_path, server.url, stream=err)
    assert server.requests == [None, "bytes=800-"]
    assert "100%" in err.getvalue() and "facades.tar.gz" in err.getvalue()
    assert sorted(p.name for p in target.iterdir()) == ["test", "train", "val"]
    assert not list(tmp_path.glob("*.tar.gz*")) and not list(tmp_path.glob(".tmp*"))
    ds = AlignedDataset(target, "train", preprocess=Preprocess("none"))
    assert len(ds) == 3 and ds.load(0)[0].shape == (3, 16, 16)


def test_a_complete_partial_file_is_verified_not_fetched_again(server, facades_tgz,
                                                              tmp_path):
    (tmp_path / "facades.tar.gz.part").write_bytes(facades_tgz.read_bytes())
    download("facades", tmp_path, server.url, stream=io.StringIO())
    assert server.requests == [f"bytes={facades_tgz.stat().st_size}-"]
    assert (tmp_path / "facades" / "test" / "3.jpg").read_bytes() == _jpeg(3)


def test_cli_download_from_a_file_url(facades_tgz, tmp_path):
    result = CliRunner().invoke(main, ["data", "download", "facades", "--root",
                                       str(tmp_path), "--url", facades_tgz.as_uri()])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "facades" / "val" / "2.jpg").read_bytes() == _jpeg(2)


def test_a_corrupt_archive_is_refused_and_removed(tmp_path):
    bad = tmp_path / "srv.tar.gz"
    bad.write_bytes(b"\x1f\x8b" + bytes(500))
    with pytest.raises(DamagedArchiveError, match="damaged archive, .*the archive was deleted"):
        download("facades", tmp_path / "data", bad.as_uri(), stream=io.StringIO())
    assert not list((tmp_path / "data").iterdir())


@pytest.mark.parametrize("member, problem", [
    (("/etc/evil", b"x"), "unsafe member name '/etc/evil'"),
    (("facades/../../evil", b"x"), "unsafe member name"),
    (("facades/train/link", None, "../../../outside"), "'facades/train/link' is a symlink"),
    (("facades/train/abs", None, "/etc/passwd"), "'facades/train/abs' is a symlink"),
])
def test_archives_that_would_write_outside_the_target_are_refused(tmp_path, member, problem):
    tgz = _archive(tmp_path / "evil.tar.gz", [("facades/train/1.jpg", _jpeg(1)), member])
    root = tmp_path / "root"
    with pytest.raises(ArchiveError, match=problem):
        download("facades", root, tgz.as_uri(), stream=io.StringIO())
    assert not (root / "facades").exists() and not (tmp_path / "evil").exists()
    assert not list(root.glob(".tmp-extract-*/facades/train/1.jpg"))   # nothing unpacked
