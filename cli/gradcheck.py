"""`p2p gradcheck`: every layer's hand-written backward against finite differences.

    p2p gradcheck --all                      # every case, on the default device
    p2p gradcheck conv2d batch_norm2d_train --device emu
"""
import sys

import click

from p2p_cupy.cli.common import device_option


def _case_list():
    from p2p_cupy.gradcheck.cases import CASES
    return ", ".join(CASES)


@click.command()
@click.argument("names", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every registered case.")
@click.option("--list", "list_cases", is_flag=True, help="Print the case names and exit.")
@device_option()
@click.option("--dtype", default="float64", show_default=True,
              type=click.Choice(["float64", "float32"]),
              help="float64 is the real check; float32 a coarse one with looser tolerances.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the inputs, weights, output gradients and directions.")
def gradcheck(names, run_all, list_cases, device, dtype, seed):
    """Check the backward passes of the named cases (or --all) against central finite
    differences: each small input and parameter element by element, and all of them along
    random directions. Prints one row per check (case, what was checked, max relative
    error, tolerance, PASS/FAIL); exits with status 1 if any check fails. `--list` prints
    the case names."""
    import numpy as np

    from p2p_cupy import backend
    from p2p_cupy.gradcheck.cases import CASES, run_case

    if list_cases:
        click.echo("\n".join(CASES))
        return
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise click.UsageError(f"unknown case(s) {', '.join(unknown)}; "
                               f"valid names: {_case_list()}")
    if not names and not run_all:
        raise click.UsageError(f"name at least one case, or --all; cases: {_case_list()}")
    bk = backend.get_backend(device)

    selected = list(CASES) if run_all else list(dict.fromkeys(names))
    failed = 0
    with backend.using(bk):
        click.echo(f"device {bk.name}, dtype {dtype}, seed {seed}")
        click.echo(f"{'case':<24}{'checked':<44}{'max rel err':>12}{'tolerance':>11}  result")
        for name in selected:
            for row in run_case(name, np.random.default_rng(seed), np.dtype(dtype)):
                failed += not row.passed
                click.echo(f"{row.name:<24}{row.what:<44}{row.max_rel_error:>12.2e}"
                           f"{row.tolerance:>11.0e}  {'PASS' if row.passed else 'FAIL'}")
    click.echo(f"{'all checks passed' if not failed else f'{failed} check(s) FAILED'}")
    sys.exit(1 if failed else 0)
