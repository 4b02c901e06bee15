"""The `p2p` command group.

Subcommands are imported only when run (so `p2p --help` stays fast and a command's heavy
imports never slow another). Add a command: one line in COMMANDS, "name": "module:attr".
"""
import importlib

import click

COMMANDS = {
    "bench": "p2p_cupy.cli.bench:bench",
    "convert": "p2p_cupy.cli.convert:convert",
    "data": "p2p_cupy.cli.data:data",
    "gradcheck": "p2p_cupy.cli.gradcheck:gradcheck",
    "inspect": "p2p_cupy.cli.inspect_cmd:inspect",
    "test": "p2p_cupy.cli.evaluate:test",
    "train": "p2p_cupy.cli.train:train",
    "translate": "p2p_cupy.cli.translate:translate",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="p2p-cupy")
def main():
    """p2p: pix2pix from scratch (NumPy, CuPy and our own CUDA kernels).

    Train with `p2p train`, check gradients with `p2p gradcheck --all`, benchmark with
    `p2p bench`. Every command has --help.
    """


if __name__ == "__main__":
    main()
