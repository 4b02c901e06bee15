"""Options and formatting shared by the commands: one definition each, so every command
spells and defaults them the same way.

Errors are not handled here: commands raise, and the one error boundary in cli/main.py
prints the line.
"""
import click

from p2p_cupy.backend import DEVICES


def device_option(default: str = "auto"):
    """The one `--device` option: auto picks cuda when CuPy sees a GPU, else numpy."""
    return click.option(
        "--device", type=click.Choice(DEVICES), default=default, show_default=True,
        help="Where to run: auto (cuda if a GPU is visible, else numpy), cpu/numpy, "
             "cuda, or emu (our CUDA kernels emulated on the CPU).")


def fmt_shape(shape) -> str:
    return "x".join(str(int(s)) for s in shape)


def fmt_count(n: int) -> str:
    return f"{n:,}" if n else "-"
