"""Batches for training: a seeded shuffle per epoch, pix2pix augmentation, and the next
batch decoded in a background thread while the current one trains.

Randomness is keyed, not sequential: epoch e's order is a permutation drawn from
Generator(seed, e), and the crop and flip of the sample at position i of epoch e come from
Generator(seed, e, i). So batch k of epoch e is a pure function of (seed, e, k): the
prefetching thread may run ahead without consuming anyone's random stream, and a resumed
run that asks for `iter_from(epoch, step)` gets exactly the batches the uninterrupted run
got. The loader's state (seed, epoch, position) is all a checkpoint needs.

A file that fails to decode mid-run (truncated, replaced on disk) is reported once with a
warning, counted in `skipped`, and replaced by the next sample of the epoch's order, so a
training run hours in does not crash on one bad image.
"""
from __future__ import annotations

import queue
import threading

import numpy as np

from p2p_cupy.data.aligned import AlignedDataset, warn_skipped
from p2p_cupy.data.images import ImageReadError
from p2p_cupy.data.transforms import Preprocess


class PairLoader:
    def __init__(self, dataset: AlignedDataset, batch_size: int = 1, seed: int = 0,
                 prefetch: bool = True, shuffle: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.prefetch, self.shuffle = prefetch, shuffle
        self.epoch, self.position = 1, 0          # the next batch to hand out
        self.bad = {}                             # dataset index -> message

    def __len__(self):
        """Batches per epoch; the last one may be smaller (the reference's drop_last=False)."""
        return -(-len(self.dataset) // self.batch_size)

    @property
    def skipped(self) -> int:
        return len(self.dataset.skipped) + len(self.bad)

    def order(self, epoch: int) -> np.ndarray:
        """The epoch's sample order: a keyed permutation, or file order (--serial-batches;
        the augmentation stays random)."""
        if not self.shuffle:
            return np.arange(len(self.dataset))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))

    def _sample(self, order, epoch: int, position: int):
        """The augmented pair at `position` of the epoch; a bad file is replaced by the next."""
        n = len(order)
        for k in range(n):
            index = int(order[(position + k) % n])
            if index in self.bad:
                continue
            try:
                return self.dataset.load(index, np.random.default_rng([self.seed, epoch,
                                                                        position]))
            except ImageReadError as e:
                self.bad[index] = str(e)
                warn_skipped(str(e))
        raise ValueError(f"{self.dataset.root}: every image of phase {self.dataset.phase!r} "
                         f"failed to load; the first: {next(iter(self.bad.values()))}")

    def batch(self, epoch: int, step: int):
        """(A, B) of batch `step` of `epoch`: float32 N x C x H x W in [-1, 1]."""
        order = self.order(epoch)
        start = step * self.batch_size
        stop = min(start + self.batch_size, len(order))
        pairs = [self._sample(order, epoch, i) for i in range(start, stop)]
        return (np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs]))

    def iter_from(self, epoch: int, step: int = 0):
        """The batches of `epoch` from `step` to its end. While the caller trains on one,
        a daemon thread builds the next (bounded queue of one: at most one batch ahead)."""
        if not 0 <= step <= len(self):
            raise ValueError(f"step {step} is outside epoch of {len(self)} batches")
        self.epoch, self.position = epoch, step
        steps = range(step, len(self))
        batches = self._prefetched(epoch, steps) if self.prefetch else \
            (self.batch(epoch, s) for s in steps)
        try:
            for batch in batches:
                self.position += 1
                yield batch
        finally:
            batches.close()  # a caller that stops early stops the prefetch thread now, not at GC
        self.epoch, self.position = epoch + 1, 0

    def __iter__(self):
        """One epoch from where the loader stands (after load_state_dict: the saved spot)."""
        return self.iter_from(self.epoch, self.position)

    def _prefetched(self, epoch, steps):
        ready = queue.Queue(maxsize=1)
        stop = threading.Event()

        def offer(item) -> bool:
            """Put item unless the consumer has stopped (then it never takes another: a
            plain put could wait forever, e.g. for "end" after the last batch)."""
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def work():
            try:
                for s in steps:
                    if not offer(("batch", self.batch(epoch, s))):
                        return
                offer(("end", None))
            except BaseException as e:          # re-raised in the training thread
                offer(("error", e))

        worker = threading.Thread(target=work, name="p2p-data-prefetch", daemon=True)
        worker.start()
        try:
            while True:
                kind, item = ready.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise item
                yield item
        finally:                                # the caller stopped early: let the worker go
            stop.set()
            worker.join()

    # --- resume -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position,
                "batch_size": self.batch_size, "num_pairs": len(self.dataset)}

    def load_state_dict(self, state: dict):
        """Continue at the saved spot; a changed data set or batch size would not continue
        the same run, so it is an error naming both numbers."""
        for key in ("batch_size", "num_pairs"):
            now = self.batch_size if key == "batch_size" else len(self.dataset)
            if state[key] != now:
                raise ValueError(f"loader state: saved {key} {state[key]} but now {now} "
                                 f"({self.dataset.root})")
        self.seed, self.epoch, self.position = state["seed"], state["epoch"], state["position"]


def make_train_loader(dataroot, opts, seed: int = 0) -> PairLoader:
    """The training loader of a run's options (direction, preprocess, load/crop size,
    no_flip, batch_size; input_nc, output_nc, max_dataset_size, serial_batches where the
    options have them)."""
    dataset = AlignedDataset(dataroot, "train", opts.direction, Preprocess.from_options(opts),
                             getattr(opts, "input_nc", 3), getattr(opts, "output_nc", 3),
                             getattr(opts, "max_dataset_size", None))
    return PairLoader(dataset, opts.batch_size, seed,
                      shuffle=not getattr(opts, "serial_batches", False))


def iter_test_pairs(dataroot, phase, opts, limit=None, only=None):
    """(name, input, target) of a phase, C x H x W, preprocessed at test settings (resized
    to the crop size, no jitter, no flip); unreadable files are warned about and skipped.
    only: the pair of that name alone."""
    dataset = AlignedDataset(dataroot, phase, opts.direction,
                             Preprocess.from_options(opts).for_testing(),
                             getattr(opts, "input_nc", 3), getattr(opts, "output_nc", 3))
    indices = range(len(dataset) if limit is None else min(limit, len(dataset)))
    if only is not None:
        indices = [i for i in range(len(dataset)) if dataset.name(i) == only]
    for index in indices:
        try:
            a, b = dataset.load(index)
        except ImageReadError as e:
            warn_skipped(str(e))
            continue
        yield dataset.name(index), a, b
