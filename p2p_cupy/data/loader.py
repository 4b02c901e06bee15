"""Batches for training: a seeded shuffle per epoch, pix2pix augmentation, and the next
batch decoded in a background thread while the current one trains.

Randomness is keyed, not sequential: epoch e's order is a permutation drawn from
Generator(seed, e), and the crop and flip of the sample at position i of epoch e come from
Generator(seed, e, i). So batch k of epoch e is a pure function of (seed, e, k): the
prefetching thread may run ahead without consuming anyone's random stream, and a resumed
run that asks for `iter_from(epoch, step)` gets exactly the batches the uninterrupted run
got. The loader's state (seed, epoch, position) is all a checkpoint needs.

Data parallelism (rank r of N processes, each with batch_size samples): every rank draws
the same permutation, and rank r takes positions r, r + N, ... of each global batch of
N x batch_size, so the ranks together see exactly the batches (and, keyed by position,
the augmentation) of one process with the global batch. An epoch then drops its last
global batch when it is incomplete (every rank must hold as many samples as the others).

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

POLL_S = 0.05      # the longest either side of the prefetch queue waits without checking
JOIN_S = 1.0       # how long a stopping caller waits for the prefetch thread


class StopFlag:
    """Set by one thread, polled by another. A plain attribute, no lock (unlike
    threading.Event): a Ctrl-C landing while it is set cannot leave it half set."""

    def __init__(self):
        self.raised = False

    def set(self):
        self.raised = True

    def is_set(self) -> bool:
        return self.raised


class PairLoader:
    def __init__(self, dataset: AlignedDataset, batch_size: int = 1, seed: int = 0,
                 prefetch: bool = True, rank: int = 0, ranks: int = 1,
                 shuffle: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.rank, self.ranks = rank, ranks
        self.global_batch = batch_size * ranks
        if ranks > 1 and len(dataset) < self.global_batch:
            raise ValueError(f"{dataset.root}: {len(dataset)} training pairs cannot fill one "
                             f"global batch of {ranks} processes x batch size {batch_size}")
        self.prefetch, self.shuffle = prefetch, shuffle
        self.epoch, self.position = 1, 0          # the next batch to hand out
        self.bad = {}                             # dataset index -> message

    def __len__(self):
        """Batches per epoch; the last one may be smaller (the reference's drop_last=False),
        except under data parallelism (only complete global batches)."""
        if self.ranks > 1:
            return len(self.dataset) // self.global_batch
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

    def batch(self, epoch: int, step: int, cancel: StopFlag | None = None):
        """(A, B) of batch `step` of `epoch`: float32 N x C x H x W in [-1, 1]; None if
        `cancel` is set between two samples (the prefetch thread was told to stop)."""
        order = self.order(epoch)
        # This process's share of the global batch: positions rank, rank + ranks, ...
        start = step * self.global_batch
        end = min(start + self.global_batch, len(order))
        pairs = []
        for i in range(start + self.rank, end, self.ranks):
            if cancel is not None and cancel.is_set():
                return None
            pairs.append(self._sample(order, epoch, i))
        return (np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs]))

    def iter_from(self, epoch: int, step: int = 0):
        """The batches of `epoch` from `step` to its end. While the caller trains on one,
        a daemon thread builds the next (bounded queue of one: at most one batch ahead).
        A caller that may stop early closes the iterator (contextlib.closing), which ends
        that thread at once; one left to the garbage collector ends it only when collected."""
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
        """The batches of `steps`, each built by a worker thread while the caller trains on
        the one before. Either side may stop at any moment (the caller breaks or raises,
        the worker fails, Ctrl-C lands anywhere) and the caller is free within JOIN_S: the
        worker never waits more than POLL_S without looking at `stop` and looks at it
        between samples, and the caller never waits on a worker that has nothing left to
        send. (A single decode still in progress finishes in the background.)"""
        ready = queue.Queue(maxsize=1)
        stop = StopFlag()

        def offer(item) -> bool:
            """Put item for the caller unless it stopped listening; True if delivered."""
            while not stop.is_set():
                try:
                    ready.put(item, timeout=POLL_S)
                    return True
                except queue.Full:
                    continue
            return False

        def work():
            try:
                for s in steps:
                    if stop.is_set() or not offer(("batch", self.batch(epoch, s, stop))):
                        return
                offer(("end", None))
            except BaseException as e:          # re-raised in the training thread
                offer(("error", e))

        worker = threading.Thread(target=work, name="p2p-data-prefetch", daemon=True)
        try:                                    # started inside: a Ctrl-C right after the
            worker.start()                      # start still runs the finally below
            while True:
                try:
                    kind, item = ready.get(timeout=POLL_S)
                except queue.Empty:
                    if not worker.is_alive() and ready.empty():
                        raise RuntimeError("data prefetch thread ended without a result")
                    continue
                if kind == "end":
                    return
                if kind == "error":
                    raise item
                yield item
        finally:                                # the caller stopped early: let the worker go
            stop.set()
            if worker.ident is not None:
                worker.join(timeout=JOIN_S)     # a decode in progress may finish after this

    # --- resume -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = {"seed": self.seed, "epoch": self.epoch, "position": self.position,
                 "batch_size": self.batch_size, "num_pairs": len(self.dataset)}
        if self.ranks > 1:             # one process: the state it always had
            state["ranks"] = self.ranks
        return state

    def load_state_dict(self, state: dict):
        """Continue at the saved spot; a changed data set or batch size would not continue
        the same run, so it is an error naming both numbers."""
        if state.get("ranks", 1) != self.ranks:
            raise ValueError(f"loader state: {ranks_mismatch(state.get('ranks', 1), self.ranks)}")
        for key in ("batch_size", "num_pairs"):
            now = self.batch_size if key == "batch_size" else len(self.dataset)
            if state[key] != now:
                raise ValueError(f"loader state: saved {key} {state[key]} but now {now} "
                                 f"({self.dataset.root})")
        self.seed, self.epoch, self.position = state["seed"], state["epoch"], state["position"]


def ranks_mismatch(saved: int, now: int) -> str:
    """Why a run of `saved` data-parallel processes cannot continue on `now`."""
    how = f"`mpiexec -n {saved} p2p train --resume ...`" if saved > 1 else "one process " \
        "(without mpiexec)"
    return (f"the run was trained by {saved} process{'es' if saved > 1 else ''} and is "
            f"resumed by {now}: the data order and dropout masks depend on the number; "
            f"resume it with {how}")


def make_train_loader(dataroot, opts, seed: int = 0, rank: int = 0, ranks: int = 1) -> PairLoader:
    """The training loader of a run's options (direction, preprocess, load/crop size,
    no_flip, batch_size; input_nc, output_nc, max_dataset_size, serial_batches where the
    options have them),
    for rank `rank` of `ranks` data-parallel processes."""
    dataset = AlignedDataset(dataroot, "train", opts.direction, Preprocess.from_options(opts),
                             getattr(opts, "input_nc", 3), getattr(opts, "output_nc", 3),
                             getattr(opts, "max_dataset_size", None))
    return PairLoader(dataset, opts.batch_size, seed, rank=rank, ranks=ranks,
                      shuffle=not getattr(opts, "serial_batches", False))


def test_dataset(dataroot, phase, opts) -> AlignedDataset:
    """A phase of a data set at test settings (resized to the crop size, no jitter, no flip)."""
    return AlignedDataset(dataroot, phase, opts.direction,
                          Preprocess.from_options(opts).for_testing(),
                          getattr(opts, "input_nc", 3), getattr(opts, "output_nc", 3))


def iter_test_pairs(dataroot, phase, opts, limit=None, dataset=None, indices=None):
    """(index, input, target) of a phase (of `dataset` if given), C x H x W, preprocessed
    at test settings; unreadable files are warned about and skipped. indices: those pairs
    only (else the first `limit`, or all)."""
    dataset = dataset if dataset is not None else test_dataset(dataroot, phase, opts)
    if indices is None:
        indices = range(len(dataset) if limit is None else min(limit, len(dataset)))
    for index in indices:
        try:
            a, b = dataset.load(index)
        except ImageReadError as e:
            warn_skipped(str(e))
            continue
        yield index, a, b
