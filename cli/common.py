"""Options and formatting shared by the commands: one definition each, so every command
spells and defaults them the same way.

    @device_option()      the one --device
    @model_options        --netG --n-blocks --netD --n-layers-D --ngf --ndf --norm
                          --no-dropout, with
                          the defaults and choices of TrainOptions (p2p train, p2p inspect)
    train_option(...)     any other option whose default comes from TrainOptions

Errors are not handled here: commands raise, and the one error boundary in cli/main.py
prints the line.
"""
import click

from p2p_cupy.backend import DEVICES
from p2p_cupy.models import DISCRIMINATORS, NORMS, generator_names
from p2p_cupy.train.options import TrainOptions

TRAIN_DEFAULTS = TrainOptions()
NETG_CHOICES = sorted(generator_names())


def device_option(default: str = "auto"):
    """The one `--device` option: auto picks cuda when CuPy sees a GPU, else numpy."""
    return click.option(
        "--device", type=click.Choice(DEVICES), default=default, show_default=True,
        help="Where to run: auto (cuda if a GPU is visible, else numpy), cpu/numpy, "
             "cuda, or emu (our CUDA kernels emulated on the CPU).")


def train_option(name: str, help: str, **kw):
    """A --dashed-name option named and defaulted after its TrainOptions field
    (--n-layers-D -> n_layers_D; the attribute is given to click, which would lowercase it)."""
    attr = name.lstrip("-").replace("-", "_")
    default = getattr(TRAIN_DEFAULTS, attr)
    if isinstance(default, bool):
        return click.option(name, attr, is_flag=True, default=default, help=help, **kw)
    return click.option(name, attr, default=default, **{"show_default": True, **kw}, help=help)


MODEL_OPTIONS = (
    train_option("--netG", "Generator: a U-Net (unet_<size>: sides multiples of size), its "
                 "skip-free encoder_decoder_<size>, or a ResNet (resnet_<n>blocks: sides "
                 "multiples of 4).", type=click.Choice(NETG_CHOICES)),
    train_option("--n-blocks", "Residual blocks of a resnet netG  [default: 9 for "
                 "resnet_9blocks, 6 for resnet_6blocks]", type=click.IntRange(0),
                 show_default=False),
    train_option("--netD", "Discriminator: basic (70x70 PatchGAN), n_layers or pixel.",
                 type=click.Choice(DISCRIMINATORS)),
    train_option("--n-layers-D", "PatchGAN depth for --netD n_layers (1..5).",
                 type=click.IntRange(1, 5)),
    train_option("--ngf", "Generator filters in the first conv.", type=click.IntRange(1)),
    train_option("--ndf", "Discriminator filters in the first conv.", type=click.IntRange(1)),
    train_option("--norm", "Normalisation.", type=click.Choice(NORMS)),
    train_option("--no-dropout", "No dropout in the generator."),
)


def model_options(command):
    """Decorator: the model options of `p2p train` (MODEL_OPTIONS) on another command; they
    arrive as keyword arguments named as the TrainOptions fields (netG, n_layers_D, ...)."""
    for option in reversed(MODEL_OPTIONS):
        command = option(command)
    return command


def fmt_shape(shape) -> str:
    return "x".join(str(int(s)) for s in shape)


def fmt_count(n: int) -> str:
    return f"{n:,}" if n else "-"
