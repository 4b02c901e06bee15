"""The commands spell their shared options one way: one --device everywhere, and the model
options of `p2p train` (derived from TrainOptions) on `p2p inspect model` and `kernels`."""
import click
from click.testing import CliRunner

from p2p_cupy.backend import DEVICES
from p2p_cupy.cli.main import main
from p2p_cupy.train.options import TrainOptions

COMPUTING = ("train", "test", "translate", "gradcheck", "bench step", "bench infer",
             "bench layers", "bench kernels", "inspect activations")
MODEL = ("netG", "netD", "n_layers_D", "ngf", "ndf", "norm", "no_dropout")


def all_commands():
    """{"group sub": click.Command} for every command of `p2p`."""
    ctx = click.Context(main)
    found = {}
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                found[f"{name} {sub}"] = command.get_command(ctx, sub)
        else:
            found[name] = command
    return found


def describe(param):
    """What a user sees of an option: its spellings, default, choices, range and help."""
    kind = param.type
    choices = getattr(kind, "choices", None)
    return (tuple(param.opts), param.default, choices and tuple(choices),
            getattr(kind, "min", None), getattr(kind, "max", None), param.is_flag, param.help)


def test_every_computing_command_has_the_one_device_option():
    commands = all_commands()
    devices = {name: next(p for p in commands[name].params if p.name == "device")
               for name in COMPUTING}
    first = describe(devices["train"])
    assert first[:3] == (("--device",), "auto", tuple(DEVICES))
    for name, option in devices.items():
        assert describe(option) == first, name
    for name, command in commands.items():   # and nobody else defines another one
        assert all(p.name != "device" or describe(p) == first for p in command.params), name


def test_inspect_takes_the_model_options_of_train():
    commands = all_commands()
    train = {p.name: describe(p) for p in commands["train"].params if p.name in MODEL}
    assert set(train) == set(MODEL)
    defaults = TrainOptions()
    assert all(train[name][1] == getattr(defaults, name) for name in MODEL)
    assert train["n_layers_D"][0] == ("--n-layers-D",)
    for name in ("inspect model", "inspect kernels"):
        theirs = {p.name: describe(p) for p in commands[name].params if p.name in MODEL}
        assert theirs == train, name


def test_inspect_model_uses_the_model_options():
    result = CliRunner().invoke(main, ["inspect", "model", "--netD", "n_layers",
                                       "--n-layers-D", "2", "--ngf", "8", "--ndf", "8",
                                       "--size", "64", "--netG", "unet_64", "--json"])
    assert result.exit_code == 0, result.output
    assert '"D_receptive_field": 34' in result.output          # 2 layers: 34x34 patches
    result = CliRunner().invoke(main, ["inspect", "model", "--netG", "unet_1000"])
    assert result.exit_code == 2 and "--netG" in result.output  # a choice, as in train
