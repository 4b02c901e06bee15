"""The prefetching loader stops cleanly from anywhere: after any batch of the epoch, on an
error in the worker or in the caller, and on Ctrl-C (KeyboardInterrupt) in every phase of
the hand-over; its thread is gone within a second every time."""
import _thread
import sys
import threading
import time
import traceback
from contextlib import closing

import numpy as np
import pytest
from PIL import Image

from p2p_cupy.data import AlignedDataset, PairLoader, Preprocess

PAIRS = 5
DEADLINE_S = 1.0 + 0.5          # JOIN_S plus slack for a loaded machine


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ab")
    (root / "train").mkdir()
    for i in range(PAIRS):
        a = np.full((8, 8, 3), 40 * i, np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(root / "train" / f"{i}.png")
    return root


def _loader(root, batch_size):
    return PairLoader(AlignedDataset(root, preprocess=Preprocess("resize_and_crop", 8, 8)),
                      batch_size, seed=0)


def _workers():
    return [t for t in threading.enumerate() if t.name == "p2p-data-prefetch" and t.is_alive()]


def _finishes(job, seconds=DEADLINE_S + 3):
    """Run job() in a thread; (finished in time, what it returned or raised)."""
    result = {}

    def run():
        try:
            result["value"] = job()
        except BaseException as e:          # noqa: B902 - we report every kind
            result["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive(), result


def _assert_no_worker_left():
    deadline = time.monotonic() + DEADLINE_S
    while _workers() and time.monotonic() < deadline:
        time.sleep(0.01)
    stacks = ["".join(traceback.format_stack(sys._current_frames()[t.ident]))
              for t in _workers() if t.ident in sys._current_frames()]
    assert not _workers(), f"the prefetch thread outlived its loader by a second: {stacks}"


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_stopping_after_every_batch_of_the_epoch_returns_at_once(root, batch_size):
    """The issue's hang: stopping one batch before the end left the worker blocked on a
    full queue while the caller joined it. Here every stopping position, 0..all."""
    n = len(_loader(root, batch_size))
    for stop_after in range(n + 1):
        loader = _loader(root, batch_size)

        def consume():
            batches = loader.iter_from(1)
            taken = [next(batches) for _ in range(stop_after)]
            time.sleep(0.05)                 # let the worker fill the queue and block
            started = time.monotonic()
            batches.close()
            return len(taken), time.monotonic() - started
        done, result = _finishes(consume)
        assert done, f"batch {batch_size}: stopping after {stop_after} of {n} batches hangs"
        taken, close_s = result["value"]
        assert taken == stop_after and close_s < DEADLINE_S
        _assert_no_worker_left()


@pytest.mark.parametrize("batch_size", [1, 2])
def test_an_error_in_the_callers_loop_after_any_batch_stops_the_worker(root, batch_size):
    n = len(_loader(root, batch_size))
    for fail_at in range(n):
        loader = _loader(root, batch_size)

        def consume():
            for k, _ in enumerate(loader.iter_from(1)):
                if k == fail_at:
                    raise RuntimeError(f"training failed at batch {k}")
        done, result = _finishes(consume)
        assert done and str(result["error"]) == f"training failed at batch {fail_at}"
        _assert_no_worker_left()


@pytest.mark.parametrize("batch_size", [1, 2])
@pytest.mark.parametrize("error", [RuntimeError, MemoryError, KeyboardInterrupt])
def test_an_error_in_the_worker_at_any_sample_reaches_the_caller(root, batch_size, error):
    for fail_at in range(PAIRS):
        loader = _loader(root, batch_size)
        load, calls = loader.dataset.load, []

        def failing_load(*args, **kw):
            calls.append(1)
            if len(calls) == fail_at + 1:
                raise error(f"decoder broke on sample {fail_at}")
            return load(*args, **kw)
        loader.dataset.load = failing_load
        done, result = _finishes(lambda: list(loader.iter_from(1)))
        assert done and isinstance(result.get("error"), error)
        assert str(result["error"]) == f"decoder broke on sample {fail_at}"
        _assert_no_worker_left()


def _interrupt_main_during(phase, root, batch_size):
    """Ctrl-C lands in the main thread while the loader is in `phase`; returns how long
    the KeyboardInterrupt took to come out of the loop."""
    loader = _loader(root, batch_size)
    load = loader.dataset.load
    ready = threading.Event()

    def slow_load(*args, **kw):              # the worker is busy decoding
        if phase == "worker decoding":
            ready.set()
            time.sleep(0.3)
        return load(*args, **kw)
    loader.dataset.load = slow_load
    timer = None
    if phase == "worker decoding":
        timer = threading.Thread(target=lambda: (ready.wait(5), _thread.interrupt_main()))
        timer.start()
    started = None
    # As the training loop does: closing() stops the worker whichever frame the
    # KeyboardInterrupt lands in (a generator left to the garbage collector is not closed
    # while a traceback still refers to it).
    with pytest.raises(KeyboardInterrupt), closing(loader.iter_from(1)) as batches:
        for k, _ in enumerate(batches):
            if phase == "caller training" and k == 1:
                started = time.monotonic()
                raise KeyboardInterrupt     # as if Ctrl-C hit the training step
            if phase == "worker blocked on a full queue" and k == 0:
                time.sleep(0.1)             # the worker has filled the queue and waits
                started = time.monotonic()
                _thread.interrupt_main()
                time.sleep(0.2)             # delivered at the next bytecode
            if phase == "caller waiting for a batch" and k == 0:
                loader.dataset.load = lambda *a, **kw: (time.sleep(0.3), load(*a, **kw))[1]
                threading.Timer(0.1, _thread.interrupt_main).start()
                started = time.monotonic() + 0.1
    if timer is not None:
        timer.join()
        started = started or time.monotonic()
    return time.monotonic() - (started or time.monotonic())


@pytest.mark.parametrize("batch_size", [1, 2])
@pytest.mark.parametrize("phase", ["caller training", "worker blocked on a full queue",
                                   "caller waiting for a batch", "worker decoding"])
def test_ctrl_c_in_every_phase_of_the_hand_over_ends_the_loop_and_the_worker(root, phase,
                                                                             batch_size):
    elapsed = _interrupt_main_during(phase, root, batch_size)
    assert elapsed < DEADLINE_S
    _assert_no_worker_left()
