import threading
import time

import numpy as np
import pytest
from PIL import Image

from p2p_cupy.data import (AlignedDataset, BadImageWarning, PairLoader, Preprocess,
                           iter_test_pairs, make_train_loader)
from p2p_cupy.train.options import TrainOptions


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """7 AB pairs of 20x20: A holds its index in every pixel, B = 255 - A."""
    root = tmp_path_factory.mktemp("ab")
    (root / "train").mkdir()
    for i in range(7):
        a = np.full((20, 20, 3), 10 * i, np.uint8)
        a[:, :3] = 250                              # a left stripe: shows flips and crops
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(root / "train" / f"{i}.png")
    return root


def _loader(root, batch_size=3, seed=0, prefetch=True):
    ds = AlignedDataset(root, preprocess=Preprocess("resize_and_crop", 24, 16))
    return PairLoader(ds, batch_size, seed, prefetch)


def _ids(batch_a):
    """The pair index of each sample of a batch (from its center pixel)."""
    return [int(round((a[0, 8, 8] + 1) * 127.5 / 10)) for a in batch_a]


def test_batches_cover_the_epoch_once_in_a_seeded_shuffle(root):
    loader = _loader(root)
    assert len(loader) == 3
    batches = list(loader.iter_from(1))
    assert [a.shape for a, _ in batches] == [(3, 3, 16, 16)] * 2 + [(1, 3, 16, 16)]
    assert all(a.dtype == np.float32 and np.abs(a + b).max() < 0.02 for a, b in batches)
    order = sum((_ids(a) for a, _ in batches), [])
    assert sorted(order) == list(range(7)) and order == list(loader.order(1))
    assert order != list(loader.order(2)) and list(loader.order(2)) == list(_loader(root).order(2))
    assert list(_loader(root, seed=1).order(1)) != order


def test_prefetching_builds_batches_in_a_background_thread_with_the_same_result(root):
    loader = _loader(root)
    threads = set()
    load = loader.dataset.load

    def recording_load(*args, **kw):
        threads.add(threading.current_thread().name)
        return load(*args, **kw)

    loader.dataset.load = recording_load
    with_prefetch = list(loader.iter_from(4))
    assert threads == {"p2p-data-prefetch"}
    without = list(_loader(root, prefetch=False).iter_from(4))
    for (a1, b1), (a2, b2) in zip(with_prefetch, without, strict=True):
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(b1, b2)


def test_stopping_early_stops_the_worker(root):
    before = threading.active_count()
    it = _loader(root, batch_size=1).iter_from(1)
    next(it)
    it.close()
    assert threading.active_count() == before


def test_serial_batches_and_max_dataset_size(root):
    opts = TrainOptions(load_size=24, crop_size=16, batch_size=2, serial_batches=True,
                        max_dataset_size=5)
    loader = make_train_loader(root, opts, seed=3)
    assert len(loader.dataset) == 5 and len(loader) == 3
    ids = sum((_ids(a) for a, _ in loader.iter_from(2)), [])
    assert ids == [0, 1, 2, 3, 4]                   # file order, every epoch
    shuffled = make_train_loader(root, TrainOptions(load_size=24, crop_size=16), seed=3)
    assert list(shuffled.order(2)) != list(range(7))


def test_resume_from_the_state_continues_exactly(root):
    whole = _loader(root, batch_size=2)
    expected = [b for e in (1, 2) for b in whole.iter_from(e)]
    first = _loader(root, batch_size=2)
    got = []
    for batch in first:                              # epoch 1, stopped after 2 batches
        got.append(batch)
        if len(got) == 2:
            break
    state = first.state_dict()
    assert (state["epoch"], state["position"]) == (1, 2)
    resumed = _loader(root, batch_size=2)
    resumed.load_state_dict(state)
    got += list(resumed) + list(resumed)             # rest of epoch 1, then epoch 2
    assert len(got) == len(expected) == 8
    for (a1, b1), (a2, b2) in zip(got, expected):
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(b1, b2)
    with pytest.raises(ValueError, match="saved batch_size 2 but now 3"):
        _loader(root, batch_size=3).load_state_dict(state)


def test_a_file_that_fails_to_decode_mid_run_is_skipped_with_a_warning(root, tmp_path):
    for p in (root / "train").iterdir():
        (tmp_path / "train").mkdir(exist_ok=True)
        (tmp_path / "train" / p.name).write_bytes(p.read_bytes())
    bad = tmp_path / "train" / "3.png"
    bad.write_bytes(bad.read_bytes()[:-40])          # the header still reads fine
    loader = _loader(tmp_path, batch_size=7)
    with pytest.warns(BadImageWarning, match="3.png: unreadable image"):
        (a, _), = list(loader.iter_from(1))
    assert a.shape[0] == 7 and 3 not in _ids(a) and loader.skipped == 1


def test_make_train_loader_and_test_pairs_follow_the_options(root):
    opts = TrainOptions(dataroot=str(root), load_size=24, crop_size=16, batch_size=2,
                        direction="BtoA")
    loader = make_train_loader(root, opts, seed=5)
    assert len(loader.dataset) == 7 and len(loader) == 4 and loader.seed == 5
    a, b = next(iter(loader))
    assert a.shape == (2, 3, 16, 16) and (a > 0).mean() > 0.5      # BtoA: input is bright B
    pairs = list(iter_test_pairs(root, "train", opts, limit=3))
    assert [i for i, _, _ in pairs] == [0, 1, 2]
    index, a, b = pairs[1]
    assert a.shape == (3, 16, 16)
    assert (a[:, :, 0] < a[:, :, -1]).all()          # B's dark stripe stays left: no flip


def test_data_parallel_ranks_together_hold_the_global_batches_with_their_augmentation(root):
    """Rank r of 2 (batch 1 each) takes positions r, r + 2 of every global batch of 2: the
    same samples, crops and flips as one process with batch 2; the incomplete last global
    batch is dropped (7 pairs: 3 steps)."""
    ds = AlignedDataset(root, preprocess=Preprocess("resize_and_crop", 24, 16))
    whole = list(PairLoader(ds, 2, seed=3, prefetch=False).iter_from(2))
    ranks = [list(PairLoader(ds, 1, seed=3, rank=r, ranks=2).iter_from(2)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 3 and len(whole) == 4
    for step in range(3):
        np.testing.assert_array_equal(ranks[0][step][0][0], whole[step][0][0])
        np.testing.assert_array_equal(ranks[1][step][0][0], whole[step][0][1])
        np.testing.assert_array_equal(ranks[1][step][1][0], whole[step][1][1])
    state = PairLoader(ds, 1, seed=3, rank=1, ranks=2).state_dict()
    with pytest.raises(ValueError, match="trained by 2 process.*mpiexec -n 2"):
        PairLoader(ds, 1, seed=3).load_state_dict(state)


def test_stopping_one_batch_before_the_end_of_an_epoch_does_not_hang(root):
    """The consumer stops with one batch left (--max-steps mid-epoch): the worker, which
    has queued that batch and is queueing its end marker, must let go (it blocked forever
    before, and with it the training process)."""
    loader = _loader(root)
    batches = loader.iter_from(1)
    for _ in range(len(loader) - 1):
        next(batches)
    time.sleep(0.5)                     # the worker queues the last batch meanwhile
    finished = threading.Event()
    threading.Thread(target=lambda: (batches.close(), finished.set()), daemon=True).start()
    assert finished.wait(10)
