"""Learning-rate schedules (--lr-policy): a multiplier of --lr for every training epoch,
the same for G and D.

    linear    1 for n_epochs epochs, then linearly toward 0 over n_epochs_decay more
    step      0.1 ** ((e - 1) // lr_decay_iters): divided by 10 every lr_decay_iters epochs
    cosine    (1 + cos(pi (e - 1) / T)) / 2 with T = n_epochs + n_epochs_decay
    plateau   times 0.2 when the epoch's mean G_L1 has not improved by 1% for more than 5
              epochs in a row

Every schedule trains epoch e (1-based) with the multiplier the reference's torch scheduler
has after e - 1 steps (it steps once per epoch), except two choices of ours:
- cosine anneals over the whole run (n_epochs + n_epochs_decay), where the reference's
  T_max = n_epochs lets the rate climb back up during the decay epochs;
- plateau watches the epoch's mean G_L1; the reference passes a metric that pix2pix never
  sets (always 0), so there it only cuts the rate every 6 epochs.

linear, step and cosine depend on the epoch alone; plateau keeps (best, bad epochs, factor)
in its state_dict, which the checkpoint stores, so a resumed run continues exactly.
"""
from __future__ import annotations

import math

import numpy as np

LR_POLICIES = ("linear", "step", "plateau", "cosine")


class Schedule:
    """factor(epoch): the multiplier of --lr for that epoch; epoch_finished(metric) is
    called after every epoch with its mean G_L1; state_dict holds what is not a function
    of the epoch (nothing, except for plateau) and is what a checkpoint keeps when
    `stateful`: the others are rebuilt from the options, which --resume may change."""

    stateful = False

    def factor(self, epoch: int) -> float:
        raise NotImplementedError

    def epoch_finished(self, metric: float):
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state):
        return self


class LinearDecaySchedule(Schedule):
    """pix2pix's "linear" policy: the full learning rate for n_epochs epochs, then a linear
    decay toward zero over n_epochs_decay more (docs/DESIGN.md, "The pix2pix spec"; the
    paper's schedule).

    The reference (pytorch-CycleGAN-and-pix2pix, models/networks.py get_scheduler) wraps

        lambda_rule(k) = 1 - max(0, k + epoch_count - n_epochs) / (n_epochs_decay + 1)

    in torch's LambdaLR, k counting the scheduler steps so far. We step at the *end* of each
    epoch, as the reference did until 2020, so epoch e (1-based) trains with
    k = e - epoch_count, i.e. lr * factor(e) where

        factor(e) = 1 - max(0, e - n_epochs) / (n_epochs_decay + 1)

    (100 + 100: epochs 1..100 at 1.0, epoch 101 at 100/101, ..., epoch 200 at 1/101). The
    current reference steps at the *start* of each epoch, one epoch earlier, which trains
    only n_epochs - 1 epochs at the full rate and spends its last epoch at lr 0; we keep
    n_epochs at the full rate. The factor depends on the epoch only, which is what
    makes a resumed run continue exactly: epoch_count just relabels k.
    """

    def __init__(self, n_epochs: int, n_epochs_decay: int, epoch_count: int = 1):
        if n_epochs < 0 or n_epochs_decay < 0 or epoch_count < 1:
            raise ValueError(f"LinearDecaySchedule: expected n_epochs >= 0, n_epochs_decay >= 0 "
                             f"and epoch_count >= 1, got {n_epochs}, {n_epochs_decay}, "
                             f"{epoch_count}")
        self.n_epochs, self.n_epochs_decay = int(n_epochs), int(n_epochs_decay)
        self.epoch_count = int(epoch_count)

    def lambda_rule(self, k: int) -> float:
        """The reference's multiplier after k scheduler steps."""
        return 1.0 - max(0, k + self.epoch_count - self.n_epochs) / float(self.n_epochs_decay + 1)

    def factor(self, epoch: int) -> float:
        """The learning-rate multiplier for training epoch `epoch` (1-based)."""
        return self.lambda_rule(epoch - self.epoch_count)

    def state_dict(self) -> dict:
        return {"n_epochs": np.array(self.n_epochs),
                "n_epochs_decay": np.array(self.n_epochs_decay),
                "epoch_count": np.array(self.epoch_count)}

    def load_state_dict(self, state):
        self.__init__(int(state["n_epochs"]), int(state["n_epochs_decay"]),
                      int(state["epoch_count"]))
        return self


class StepSchedule(Schedule):
    """--lr-policy step: lr * gamma ** ((e - 1) // step_size), gamma 0.1 (torch's StepLR)."""

    def __init__(self, step_size: int, gamma: float = 0.1):
        if step_size < 1:
            raise ValueError(f"StepSchedule: lr_decay_iters must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)

    def factor(self, epoch: int) -> float:
        return self.gamma ** ((epoch - 1) // self.step_size)


class CosineSchedule(Schedule):
    """--lr-policy cosine: (1 + cos(pi (e - 1) / total)) / 2, from 1 down toward 0."""

    def __init__(self, total_epochs: int):
        self.total = max(1, int(total_epochs))

    def factor(self, epoch: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch - 1, self.total) / self.total))


class PlateauSchedule(Schedule):
    """--lr-policy plateau: torch's ReduceLROnPlateau(mode min, factor 0.2, threshold 0.01
    relative, patience 5) fed with each epoch's metric through epoch_finished()."""

    stateful = True

    def __init__(self, cut: float = 0.2, threshold: float = 0.01, patience: int = 5):
        self.cut, self.threshold, self.patience = cut, threshold, patience
        self.best, self.bad_epochs, self.current = math.inf, 0, 1.0

    def factor(self, epoch: int) -> float:
        return self.current

    def epoch_finished(self, metric: float):
        """Record one epoch's metric (lower is better); cut the rate after a plateau."""
        if metric < self.best * (1.0 - self.threshold):
            self.best, self.bad_epochs = metric, 0
        else:
            self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            self.current *= self.cut
            self.bad_epochs = 0

    def state_dict(self) -> dict:
        return {"best": np.array(self.best), "bad_epochs": np.array(self.bad_epochs),
                "current": np.array(self.current)}

    def load_state_dict(self, state):
        self.best, self.current = float(state["best"]), float(state["current"])
        self.bad_epochs = int(state["bad_epochs"])
        return self


def make_schedule(opts):
    """The schedule of a run's options (lr_policy, n_epochs, n_epochs_decay, lr_decay_iters)."""
    policy = getattr(opts, "lr_policy", "linear")
    if policy == "linear":
        return LinearDecaySchedule(opts.n_epochs, opts.n_epochs_decay)
    if policy == "step":
        return StepSchedule(opts.lr_decay_iters)
    if policy == "cosine":
        return CosineSchedule(opts.n_epochs + opts.n_epochs_decay)
    if policy == "plateau":
        return PlateauSchedule()
    raise ValueError(f"unknown lr_policy {policy!r}; choose {', '.join(LR_POLICIES)}")
