"""A tiny AB data set shared by the training tests."""
import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def facades(tmp_path_factory):
    """A tiny AB data set: 6 training pairs of 40x40 (label map | photo-ish image)."""
    root = tmp_path_factory.mktemp("tiny_facades")
    rng = np.random.default_rng(0)
    for phase, n in (("train", 6), ("test", 2)):
        (root / phase).mkdir()
        for i in range(n):
            labels = np.zeros((40, 40, 3), np.uint8) + rng.integers(0, 256, 3, dtype=np.uint8)
            for _ in range(5):
                y, x = rng.integers(0, 32, 2)
                labels[y:y + 8, x:x + 6] = rng.integers(0, 256, 3)
            Image.fromarray(np.concatenate([labels, 255 - labels], axis=1)).save(
                root / phase / f"{i}.png")
    return root
