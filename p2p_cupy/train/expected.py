"""What a checkpoint must hold for the objects that will receive it, as the specs that
CheckpointFile.check takes (p2p_cupy/train/checkpoint.py): array names, shapes and dtypes
from the freshly built networks and optimizers, JSON types for the rest. Checking them
before the arrays are read turns a wrong, damaged or crafted checkpoint into one line
naming the file and the part, instead of a KeyError or a huge allocation.

Each spec mirrors a state_dict (Module, Adam, PairLoader, Trainer); a test checks a real
training checkpoint against them (tests/train/test_checkpoint_crafted.py), so they cannot
drift apart unnoticed.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy.train.checkpoint import ArraySpec, CheckpointError, CheckpointFile
from p2p_cupy.train.options import TrainOptions

NUMBER = (int, float)
LOADER_SPEC = {"seed": int, "epoch": int, "position": int, "batch_size": int,
               "num_pairs": int}
# architecture options a file may ask for: far above pix2pix's 64 filters and 3 layers,
# far below what would exhaust memory while building the model the file is checked against
ARCHITECTURE_LIMITS = {"ngf": (1, 512), "ndf": (1, 512), "n_layers_D": (1, 8),
                       "n_blocks": (0, 64)}


def module_spec(module) -> dict:
    """Module.state_dict's names, shapes and dtypes, without copying anything."""
    spec = {name: ArraySpec(tuple(p.data.shape), np.dtype(p.data.dtype))
            for name, p in module.named_parameters()}
    spec.update({name: ArraySpec(tuple(b.shape), np.dtype(b.dtype))
                 for name, _, _, b in module.named_buffers()})
    return spec


def adam_spec(parameters) -> dict:
    """Adam.state_dict's layout for an Adam over `parameters`: hyper-parameters and step
    as 0-d arrays, m.<i> and v.<i> shaped like the i-th parameter (no Adam is built: its
    moments would be two more copies of the model)."""
    spec = {"step": ArraySpec((), np.int64), "lr": ArraySpec((), np.float64),
            "beta1": ArraySpec((), np.float64), "beta2": ArraySpec((), np.float64),
            "eps": ArraySpec((), np.float64)}
    for i, p in enumerate(parameters):
        for moment in ("m", "v"):
            spec[f"{moment}.{i}"] = ArraySpec(tuple(p.data.shape), np.dtype(p.data.dtype))
    return spec


def generator_spec(G) -> dict:
    """What translating with G needs: its weights and the options that built it."""
    return {"options": dict, "G": module_spec(G)}


def networks_spec(G, D) -> dict:
    """Both networks and the Adam states of a run that trains them."""
    return {**generator_spec(G), "D": module_spec(D), "opt_G": adam_spec(G.parameters()),
            "opt_D": adam_spec(D.parameters())}


def run_spec(G, D, ranks: int = 1) -> dict:
    """Everything Trainer.state_dict saves, so that --resume can continue from it; a run
    of several data-parallel processes also saves their number in the loader's state."""
    loader = {**LOADER_SPEC, "ranks": int} if ranks > 1 else LOADER_SPEC
    return {"version": int, "step": int, "epoch": int, "epoch_step": int,
            "trained_s": NUMBER, **networks_spec(G, D), "loader": loader}


def saved_ranks(ckpt: CheckpointFile) -> int:
    """The number of data-parallel processes that wrote a run's checkpoint (1 when the
    loader state names none, as every single-process checkpoint)."""
    loader = ckpt.tree.get("loader")
    ranks = loader.get("ranks", 1) if isinstance(loader, dict) else 1
    if not isinstance(ranks, int) or isinstance(ranks, bool) or ranks < 1:
        raise CheckpointError(f"{ckpt.path}: loader.ranks should be a positive int")
    return ranks


# What the schedule keeps in a checkpoint (schedules.py): plateau's state, nothing else's.
PLATEAU_SPEC = {"best": ArraySpec((), np.float64), "bad_epochs": ArraySpec((), np.int64),
                "current": ArraySpec((), np.float64)}
ADDED_LATER = ("schedule", "epoch_l1")     # parts that runs saved before them do not have


def schedule_spec(lr_policy: str) -> dict:
    """The schedule's part of Trainer.state_dict and the epoch's L1 sum and count."""
    return {"schedule": PLATEAU_SPEC if lr_policy == "plateau" else {}, "epoch_l1": list}


def present_or_required(ckpt: CheckpointFile, spec: dict) -> dict:
    """spec without the parts of ADDED_LATER that an older checkpoint does not have."""
    return {k: v for k, v in spec.items() if k in ckpt.tree or k not in ADDED_LATER}


def saved_options(ckpt: CheckpointFile) -> TrainOptions:
    """The TrainOptions a checkpoint was made with: known names, the right types, and an
    architecture of a sane size."""
    values = ckpt.options_dict()
    try:
        opts = TrainOptions.from_dict(values)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{ckpt.path}: {e}") from None
    for name, (low, high) in ARCHITECTURE_LIMITS.items():
        value = getattr(opts, name)
        if value is not None and not low <= value <= high:
            raise CheckpointError(f"{ckpt.path}: option {name} is {value}, outside "
                                  f"{low}..{high}")
    return opts
