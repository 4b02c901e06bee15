"""A tiny trained label-map run and a live `p2p serve` server on a free port."""
import threading

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from p2p_cupy import backend
from p2p_cupy.cli.main import main
from p2p_cupy.serve.model import ServedModel
from p2p_cupy.serve.server import PageServer

CLASSES = [("background", (0, 0, 170)), ("facade", (0, 0, 255)), ("window", (0, 128, 255)),
           ("door", (0, 255, 255)), ("cornice", (128, 255, 128)), ("sill", (255, 255, 0)),
           ("balcony", (255, 128, 0)), ("shop", (255, 0, 0))]


def _train(root, name, with_classes):
    data = root / f"data_{name}"
    rng = np.random.default_rng(0)
    (data / "train").mkdir(parents=True)
    for i in range(3):
        labels = rng.integers(0, len(CLASSES), (4, 4)).repeat(8, 0).repeat(8, 1)
        a = np.array([c for _, c in CLASSES], np.uint8)[labels]
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(data / "train" / f"{i}.png")
    if with_classes:
        (data / "classes.txt").write_text("# index name R G B\n" + "".join(
            f"{i} {n} {r} {g} {b}\n" for i, (n, (r, g, b)) in enumerate(CLASSES)))
    result = CliRunner().invoke(main, [
        "train", "--dataroot", str(data), "--out", str(root), "--name", name, "--netG",
        "unet_32", "--ngf", "4", "--ndf", "4", "--load-size", "32", "--crop-size", "32",
        "--max-steps", "3", "--print-freq", "1", "--sample-freq", "100", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return root / name


@pytest.fixture(scope="session")
def label_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("serve"), "labels", with_classes=True)


@pytest.fixture(scope="session")
def sketch_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("serve"), "sketch", with_classes=False)


def start_server(run_dir):
    with backend.using(backend.get_backend("numpy")):
        model = ServedModel(run_dir)
    server = PageServer(model, "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="session")
def classes():
    """The label map's classes: [(name, (r, g, b))]."""
    return CLASSES


@pytest.fixture(scope="session")
def serving():
    """serving(run_dir): a started (server, thread) pair; stop it with stop(server, thread)."""
    return start_server


def stop(server, thread):
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def server(label_run):
    server, thread = start_server(label_run)
    yield server
    stop(server, thread)
