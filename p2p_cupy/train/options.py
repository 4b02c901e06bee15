"""The options of a training run: the reference pix2pix options that apply, with their
defaults, plus a few of ours (--max-steps, --device, frequencies in steps).

A run saves its options in every checkpoint; `--resume` takes them back, and only the
options in RESUME_OVERRIDABLE may be changed on the command line when resuming (how long
to train, how often to report, where to run). Changing the model or the data under a
half-trained run would not "continue" it.
"""
from __future__ import annotations

import dataclasses
import math
import re
import typing
import warnings
from dataclasses import dataclass
from typing import Optional

from p2p_cupy.errors import P2PError

GIB = 2 ** 30
# A run name is one folder under --out: a letter or digit, then letters, digits, . _ - +
# and inner spaces
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+ -]{0,126}[A-Za-z0-9._+-]|[A-Za-z0-9]")
PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")

RESUME_OVERRIDABLE = ("max_steps", "n_epochs", "n_epochs_decay", "print_freq", "sample_freq",
                      "save_epoch_freq", "save_latest_freq", "device", "inspect_freq",
                      "cuda_graph")


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
    lambda_gan: float = 1.0               # 0: L1 alone (the paper's "L1" ablation)
    unconditional_D: bool = False         # D judges B alone (the paper's "L1+GAN")
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
    cuda_graph: Optional[bool] = None     # replay a captured step (None: on cuda only)
    sync_bn: bool = False                 # data parallel: batch norm over the global batch

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Refuse options that make no sense (P2PError naming the option and its range);
        every entry point builds TrainOptions, so the command line, --resume (saved
        options) and the Python API all pass here."""
        def need(ok, option, what):
            if not ok:
                raise InvalidOption(f"--{option.replace('_', '-')} {getattr(self, option)!r}: "
                                    f"{what}")
        need(_finite(self.lr) and self.lr > 0, "lr", "the learning rate must be > 0")
        need(_finite(self.beta1) and 0 <= self.beta1 < 1, "beta1",
             "Adam's beta1 must be in [0, 1)")
        need(_finite(self.lambda_l1) and self.lambda_l1 >= 0, "lambda_l1",
             "the L1 weight must be >= 0")
        need(_finite(self.lambda_gan) and self.lambda_gan >= 0, "lambda_gan",
             "the GAN weight must be >= 0")
        need(self.lambda_l1 > 0 or self.lambda_gan > 0, "lambda_gan",
             "0 together with --lambda-l1 0: no loss left to train the generator")
        for option in ("batch_size", "ngf", "ndf", "load_size", "crop_size", "print_freq",
                       "sample_freq", "save_latest_freq", "save_epoch_freq"):
            need(_int(getattr(self, option)) and getattr(self, option) >= 1, option,
                 "must be a whole number >= 1")
        for option in ("n_epochs", "n_epochs_decay", "inspect_freq", "seed"):
            need(_int(getattr(self, option)) and getattr(self, option) >= 0, option,
                 "must be a whole number >= 0")
        need(self.n_epochs + self.n_epochs_decay >= 1, "n_epochs",
             "--n-epochs plus --n-epochs-decay must be at least 1 (nothing to train)")
        need(self.max_steps is None or (_int(self.max_steps) and self.max_steps >= 1),
             "max_steps", "must be a whole number >= 1")
        # ngf, ndf, n_layers_D and n_blocks also have upper limits for a file's options
        # (p2p_cupy/train/expected.py); n_layers_D's range is the command line's.
        need(self.n_blocks is None or (_int(self.n_blocks) and self.n_blocks >= 0), "n_blocks",
             "must be a whole number >= 0")
        need(self.direction in ("AtoB", "BtoA"), "direction", "must be AtoB or BtoA")
        need(self.preprocess in PREPROCESS_MODES, "preprocess",
             f"must be one of {', '.join(PREPROCESS_MODES)}")
        if self.preprocess in ("resize_and_crop", "scale_width_and_crop"):
            need(self.crop_size <= self.load_size, "crop_size",
                 f"larger than --load-size {self.load_size}, nothing to crop it from")
        need(isinstance(self.name, str) and RUN_NAME.fullmatch(self.name) is not None, "name",
             "a run name is one folder name: a letter or digit, then letters, digits, "
             "'.', '_', '-', '+' or inner spaces (no path separators, no '..', at most 128 "
             "characters)")
        # issue 18's options (the lazy imports keep this module free of the frameworks)
        from p2p_cupy.models.init import INIT_TYPES
        from p2p_cupy.schedules import LR_POLICIES
        from p2p_cupy.train.step import GAN_MODES
        need(self.input_nc in (1, 3, 4), "input_nc", "must be 1, 3 or 4 (RGBA)")
        need(self.output_nc in (1, 3), "output_nc", "must be 1 or 3")
        need(self.max_dataset_size is None or (_int(self.max_dataset_size)
                                               and self.max_dataset_size >= 1),
             "max_dataset_size", "must be a whole number >= 1")
        need(self.gan_mode in GAN_MODES, "gan_mode", f"must be one of {', '.join(GAN_MODES)}")
        need(_finite(self.lambda_gp) and self.lambda_gp >= 0, "lambda_gp",
             "the gradient penalty's weight must be >= 0")
        need(self.lr_policy in LR_POLICIES, "lr_policy",
             f"must be one of {', '.join(LR_POLICIES)}")
        need(_int(self.lr_decay_iters) and self.lr_decay_iters >= 1, "lr_decay_iters",
             "must be a whole number >= 1")
        need(self.init_type in INIT_TYPES, "init_type",
             f"must be one of {', '.join(INIT_TYPES)}")
        need(_finite(self.init_gain) and self.init_gain > 0, "init_gain", "must be > 0")
        side = max(self.load_size, self.crop_size)
        # A and B, float32
        sample_bytes = side * side * (self.input_nc + self.output_nc) * 4
        if sample_bytes > GIB:
            warnings.warn(f"--load-size {self.load_size}: one training sample takes "
                          f"{sample_bytes / GIB:.1f} GB of memory before the batch is even formed",
                          LargeSampleWarning, stacklevel=3)
        # --sync-bn's all-reduces run on the host, between kernels: a captured step
        # cannot hold them (p2p_cupy/train/graphed.py)
        need(not (self.cuda_graph and self.sync_bn), "cuda_graph",
             "cannot be used with --sync-bn (its all-reduces run on the host; "
             "use --no-cuda-graph)")
        # wgangp's penalty draws new interpolation weights on the host every step
        need(not (self.cuda_graph and self.gan_mode == "wgangp"), "cuda_graph",
             "cannot be used with --gan-mode wgangp (its penalty draws new interpolation "
             "weights every step; use --no-cuda-graph)")

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


class LargeSampleWarning(UserWarning):
    """Options under which one training sample alone takes more than a GB."""


class InvalidOption(P2PError, ValueError):
    """An option outside its range; the message names the option, its value and the range."""


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _allowed_types(cls, name: str) -> tuple:
    """The Python types an option's value may have (an int is a valid float)."""
    hint = typing.get_type_hints(cls)[name]
    allowed = typing.get_args(hint) or (hint,)
    return allowed + (int,) if float in allowed else allowed
