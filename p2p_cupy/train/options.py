"""The options of a training run: the reference pix2pix options that apply, with their
defaults, plus a few of ours (--max-steps, --device, frequencies in steps).

A run saves its options in every checkpoint; `--resume` takes them back, and only the
options in RESUME_OVERRIDABLE may be changed on the command line when resuming (how long
to train, how often to report, where to run). Changing the model or the data under a
half-trained run would not "continue" it.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Optional

RESUME_OVERRIDABLE = ("max_steps", "n_epochs", "n_epochs_decay", "print_freq", "sample_freq",
                      "save_epoch_freq", "save_latest_freq", "device", "inspect_freq")


@dataclass
class TrainOptions:
    dataroot: str = "synthetic-facades"   # a folder with train/ (AB pairs) or the built-in set
    out: str = "runs"                     # runs are written to OUT/NAME
    name: str = "pix2pix"
    direction: str = "AtoB"
    input_nc: int = 3                     # channels of the generator's input: 1, 3 or 4
    output_nc: int = 3                    # channels of its output: 1 or 3
    max_dataset_size: Optional[int] = None   # use only the first N training pairs
    serial_batches: bool = False          # pairs in file order, not shuffled
    netG: str = "unet_256"
    n_blocks: Optional[int] = None        # residual blocks of a resnet netG (None: its name's)
    netD: str = "basic"
    n_layers_D: int = 3
    ngf: int = 64
    ndf: int = 64
    norm: str = "batch"
    no_dropout: bool = False
    gan_mode: str = "vanilla"             # vanilla | lsgan | wgangp (with gradient penalty)
    lambda_gp: float = 10.0               # weight of wgangp's gradient penalty
    lambda_l1: float = 100.0
    lr: float = 2e-4
    beta1: float = 0.5
    n_epochs: int = 100
    n_epochs_decay: int = 100
    lr_policy: str = "linear"             # linear | step | plateau | cosine (schedules.py)
    lr_decay_iters: int = 50              # step: multiply by 0.1 every this many epochs
    init_type: str = "normal"             # normal | xavier | kaiming | orthogonal
    init_gain: float = 0.02
    batch_size: int = 1
    load_size: int = 286
    crop_size: int = 256
    preprocess: str = "resize_and_crop"
    no_flip: bool = False
    seed: int = 0
    device: str = "auto"
    max_steps: Optional[int] = None       # stop after this global step (counted across resumes)
    print_freq: int = 100                 # steps between reading the losses to the host
    sample_freq: int = 400                # steps between sample grids
    save_latest_freq: int = 5000          # steps between `latest` checkpoints
    save_epoch_freq: int = 5              # epochs between kept epoch checkpoints
    inspect_freq: int = 0                 # steps between looks inside the networks (0: never)
    init_from: Optional[str] = None       # weights this run started from (p2p train --init-from)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainOptions":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training options {unknown}")
        for name, value in values.items():          # saved options come from a file
            allowed = _allowed_types(cls, name)
            if not isinstance(value, allowed) or (isinstance(value, bool)
                                                  and bool not in allowed):
                raise ValueError(f"option {name} is {repr(value)[:40]}, expected "
                                 + " or ".join(t.__name__ for t in allowed))
        return cls(**values)

    def resumed_with(self, overrides: dict) -> "TrainOptions":
        """These saved options with the command line's explicit changes applied."""
        frozen = sorted(k for k, v in overrides.items()
                        if k not in RESUME_OVERRIDABLE and getattr(self, k) != v)
        if frozen:
            raise ValueError("--resume continues the saved run; these options cannot change: "
                             + ", ".join("--" + k.replace("_", "-") for k in frozen)
                             + f" (only {', '.join(RESUME_OVERRIDABLE)} can)")
        return dataclasses.replace(self, **overrides)


def _allowed_types(cls, name: str) -> tuple:
    """The Python types an option's value may have (an int is a valid float)."""
    hint = typing.get_type_hints(cls)[name]
    allowed = typing.get_args(hint) or (hint,)
    return allowed + (int,) if float in allowed else allowed
