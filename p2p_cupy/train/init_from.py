"""Fine-tuning: `p2p train --init-from SOURCE` starts a new run from trained weights.

SOURCE is a run folder (its latest checkpoint, or --epoch N), a checkpoint .npz (ours or
from `p2p convert`) or a PyTorch pix2pix generator .pth. The new run has its own data and
options; the networks' architecture options that the command line does not set are taken
from the source, so `--init-from runs/facades --dataroot mine` just works, and a set one
that does not fit the weights fails with the mismatching parameter named. G is loaded,
and D too when the source has one (unless G only is asked for); optimizer moments, the
step and the schedule start fresh: it is a new run.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from p2p_cupy import backend
from p2p_cupy.errors import P2PError
from p2p_cupy.train import checkpoint, expected
from p2p_cupy.train.build import networks_from_options

G_ARCHITECTURE = ("netG", "n_blocks", "ngf", "norm", "no_dropout", "input_nc", "output_nc")
D_ARCHITECTURE = ("netD", "ndf", "n_layers_D")


def read_source(source, epoch=None, read_pth=None) -> dict:
    """{"options": dict, "G": state, "D": state or None} of a run, .npz or .pth. A .pth is
    read by read_pth (path -> (G, TrainOptions)): p2p_cupy/interop sits above train in the
    layer cake (docs/DESIGN.md), so the command line hands its reader down."""
    path = Path(source)
    if path.suffix == ".pth":
        if read_pth is None:
            raise P2PError(f"--init-from {source}: no PyTorch .pth reader was given")
        G, opts = read_pth(path)
        return {"options": opts.to_dict(), "G": dict(G.state_dict()), "D": None}
    if path.is_dir():
        path = checkpoint.run_checkpoint(path, epoch)
    ckpt = checkpoint.CheckpointFile(path)          # checked before anything is read
    ckpt.check({"options": dict, "G": dict})
    opts = expected.saved_options(ckpt)
    with backend.using("numpy"):                    # built only for their shapes
        G, D = networks_from_options(opts)
    spec = expected.generator_spec(G)
    if "D" in ckpt.tree:
        spec["D"] = expected.module_spec(D)
    state = ckpt.load(spec)
    return {"options": state["options"], "G": state["G"], "D": state.get("D")}


def options_from_source(opts, given: dict, source: dict, g_only: bool):
    """opts with the architecture options the command line left alone taken from source."""
    names = G_ARCHITECTURE + (() if g_only or source["D"] is None else D_ARCHITECTURE)
    taken = {k: source["options"][k] for k in names
             if k not in given and k in source["options"]}
    return dataclasses.replace(opts, **taken)


def load_weights(run, source: dict, g_only: bool, name) -> str:
    """Load the source's G (and D) into a freshly built run; returns what was loaded."""
    loaded = ["G"]
    _load(run.G, source["G"], "G", name)
    if not g_only and source["D"] is not None:
        _load(run.D, source["D"], "D", name)
        loaded.append("D")
    return " and ".join(loaded)


def _load(net, state, which, name):
    try:
        net.load_state_dict(state)
    except (ValueError, KeyError) as e:
        raise ValueError(f"--init-from {name}: its {which} does not fit this run's options "
                         f"({e}); leave the architecture options unset to take the "
                         f"source's") from None
