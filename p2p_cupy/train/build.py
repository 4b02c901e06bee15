"""Everything a run trains with, built from its options: G, D, two Adams, the schedule
and the data loader (the built-in synthetic facades are generated once into a cache).

Seeds: G's weights (and its dropout keys) from `seed`, D's from `seed + 1`, the data
order and augmentation from `seed + 2`: one --seed fixes the whole run, on every backend.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from p2p_cupy import backend
from p2p_cupy.models import define_D, define_G
from p2p_cupy.models.init import DEFAULT_INIT, init_weights
from p2p_cupy.optim import Adam
from p2p_cupy.schedules import make_schedule
from p2p_cupy.train import expected

def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "p2p_cupy"


def _initialised(net, opts, seed):
    """net with the options' --init-type/--init-gain (the layers drew the default)."""
    if (opts.init_type, opts.init_gain) != DEFAULT_INIT:
        init_weights(net, opts.init_type, opts.init_gain, seed)
    return net


def networks_from_options(opts):
    """(G, D): the networks a run with these options trains, freshly initialised on the
    current backend. Training, inference (which keeps G) and `p2p inspect activations`
    all build them here, so a checkpoint's options always rebuild the same networks.
    D judges (input, output) pairs, input_nc + output_nc channels, or the output alone
    (output_nc channels) when unconditional."""
    G = define_G(opts.netG, input_nc=opts.input_nc, output_nc=opts.output_nc, ngf=opts.ngf,
                 norm=opts.norm, use_dropout=not opts.no_dropout, seed=opts.seed,
                 n_blocks=opts.n_blocks)
    d_input_nc = opts.output_nc if opts.unconditional_D else opts.input_nc + opts.output_nc
    D = define_D(opts.netD, input_nc=d_input_nc, ndf=opts.ndf,
                 n_layers_D=opts.n_layers_D, norm=opts.norm, seed=opts.seed + 1)
    return _initialised(G, opts, opts.seed), _initialised(D, opts, opts.seed + 1)


def resolve_dataroot(dataroot: str, size: int) -> Path:
    """A data root on disk; the built-in `synthetic-facades` (its default version) and
    `synthetic-facades-v1`/`-v2` are generated on first use (atomically: into a temporary
    folder, then renamed) and reused afterwards."""
    from p2p_cupy.data import synthetic
    version = synthetic.builtin_version(dataroot)
    if version is None:
        return Path(dataroot)
    target = cache_root() / f"{synthetic.DATA_NAME}-{version}-{size}-0"
    if not target.exists():
        tmp = target.with_name(f".tmp-{os.getpid()}-{target.name}")
        synthetic.generate(tmp, size=size, seed=0, version=version)
        try:
            os.replace(tmp, target)
        except OSError:                       # another process generated it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
            if not target.exists():
                raise
    return target


def adams(opts, G, D):
    """The run's two optimizers (state as fresh)."""
    betas = (opts.beta1, 0.999)
    return (Adam(G.parameters(), lr=opts.lr, betas=betas),
            Adam(D.parameters(), lr=opts.lr, betas=betas))


def resume_spec(opts, ranks: int = 1) -> dict:
    """What a checkpoint must hold to resume a run with these options (trained by `ranks`
    data-parallel processes). The networks are built on the host and thrown away, only to
    know their shapes (a second or so for unet_256): a resume checks the file completely
    before reading any of it."""
    with backend.using("numpy"):
        return {**expected.run_spec(*networks_from_options(opts), ranks),
                **expected.schedule_spec(opts.lr_policy)}


class Run:
    """The trained objects of a run: G, D, opt_G, opt_D, schedule, loader, dataroot."""

    def __init__(self, opts, rank=0, ranks=1):
        from p2p_cupy.data import make_train_loader
        self.opts = opts
        self.G, self.D = networks_from_options(opts)
        self.opt_G, self.opt_D = adams(opts, self.G, self.D)
        self.schedule = make_schedule(opts)
        self.dataroot = resolve_dataroot(opts.dataroot, opts.load_size)
        self.loader = make_train_loader(self.dataroot, opts, seed=opts.seed + 2, rank=rank,
                                        ranks=ranks)

    def set_epoch_lr(self, epoch: int):
        """The reference schedule: lr * factor(epoch), the same for G and D."""
        lr = self.opts.lr * self.schedule.factor(epoch)
        self.opt_G.lr = self.opt_D.lr = lr


def build_run(opts, rank=0, ranks=1) -> Run:
    """The run's objects, for rank `rank` of `ranks` data-parallel processes."""
    return Run(opts, rank, ranks)


def phase_dataset(opts, data_root, phase):
    """A phase of a data set (the built-in one generated if needed) at the run's test
    settings: resized to its crop size, no jitter (p2p_cupy.data.test_dataset)."""
    from p2p_cupy.data.loader import test_dataset
    return test_dataset(resolve_dataroot(data_root, opts.load_size), phase, opts)
