"""The `p2p` command group and the CLI's one error boundary.

Subcommands are imported only when run (so `p2p --help` stays fast and a command's heavy
imports never slow another). Add a command: one line in COMMANDS, "name": "module:attr".

The error boundary (LazyGroup.invoke) is the only place a command's failure is turned into
what the user sees: the project's own errors (P2PError), ValueError from argument checks
and OSError from the file system (read-only or full disk, missing files) become one line
"Error: ..." and exit status 1, for every command; commands catch nothing themselves.
Set P2P_DEBUG=1 to get the traceback instead.
"""
import importlib
import os
import warnings

import click

from p2p_cupy.errors import P2PError, describe_error

COMMANDS = {
    "bench": "p2p_cupy.cli.bench:bench",
    "convert": "p2p_cupy.cli.convert:convert",
    "data": "p2p_cupy.cli.data:data",
    "export": "p2p_cupy.cli.export:export",
    "gradcheck": "p2p_cupy.cli.gradcheck:gradcheck",
    "inspect": "p2p_cupy.cli.inspect_cmd:inspect",
    "serve": "p2p_cupy.cli.serve:serve",
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

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (P2PError, ValueError, OSError, MemoryError) as error:
            if os.environ.get("P2P_DEBUG"):
                raise
            raise click.ClickException(describe_error(error)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="p2p-cupy")
def main():
    """p2p: pix2pix from scratch (NumPy, CuPy and our own CUDA kernels).

    Train with `p2p train`, check gradients with `p2p gradcheck --all`, benchmark with
    `p2p bench`. Every command has --help.
    """
    warnings.formatwarning = one_line_warning


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings meant for the user (a skipped image, a torn log line) as one line, without
    the source line Python would print under them."""
    return f"warning: {message}\n"


if __name__ == "__main__":
    main()
