"""`p2p data`: make, convert and download pix2pix data sets.

    p2p data synth-facades --out datasets/synth-facades
    p2p data download facades --root datasets
    p2p data combine photos/A photos/B datasets/mine
    p2p data edges photos/ datasets/edges2photos
    p2p data split datasets/mine/all datasets/mine --val-fraction 0.1
"""
import time

import click

from p2p_cupy.data.archive import ExtractLimits


@click.group()
def data():
    """Make, convert and download pix2pix data sets (AB images side by side)."""


@data.command("synth-facades")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--n-train", default=400, show_default=True, type=click.IntRange(0))
@click.option("--n-val", default=100, show_default=True, type=click.IntRange(0))
@click.option("--n-test", default=100, show_default=True, type=click.IntRange(0))
@click.option("--size", default=256, show_default=True, type=click.IntRange(16),
              help="Side of the square label map and photo.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--version", default="v2", show_default=True, type=click.Choice(["v1", "v2"]),
              help="v2: per-instance materials, glass, shadows, irregular layouts (one label "
                   "map, many renderings); v1: flat colors on a grid (old runs).")
def synth_facades(out, n_train, n_val, n_test, size, seed, version):
    """Generate the synthetic facades set: OUT/{train,val,test}/N.png, label map (A, left)
    | photo-like rendering (B, right); trains AtoB. Class colors: OUT/classes.txt."""
    from p2p_cupy.data import synthetic
    started = time.perf_counter()
    synthetic.generate(out, size, seed, n_train, n_val, n_test, version=version)
    click.echo(f"wrote {n_train + n_val + n_test} pairs of {size}x{2 * size} to {out} in "
               f"{time.perf_counter() - started:.1f} s")


@data.command()
@click.argument("name")
@click.option("--root", default="datasets", show_default=True, type=click.Path(file_okay=False))
@click.option("--url", default=None,
              help="Download from this URL instead (a mirror); NAME is then any plain "
                   "folder name.")
@click.option("--sha256", default=None, metavar="HEX",
              help="The archive's expected SHA-256; a mismatch deletes the download. Every "
                   "download's SHA-256 is printed and recorded in ROOT/SHA256SUMS.")
@click.option("--max-files", default=ExtractLimits.max_members, show_default=True,
              type=click.IntRange(1), help="Refuse archives with more members.")
@click.option("--max-size", default="32G", show_default=True,
              help="Refuse archives that unpack to more bytes (e.g. 500M, 64G).")
@click.option("--max-ratio", default=ExtractLimits.max_ratio, show_default=True,
              type=click.FloatRange(min=1),
              help="Refuse archives that unpack to more than this many times their size.")
def download(name, root, url, sha256, max_files, max_size, max_ratio):
    """Download and unpack an official pix2pix data set: facades, maps, edges2shoes,
    edges2handbags or night2day, into ROOT/NAME. An interrupted download resumes. The
    archive is unpacked safely: only files and folders, inside ROOT/NAME, within the
    limits below."""
    from p2p_cupy.data.download import download as fetch_and_unpack
    from p2p_cupy.limits import parse_bytes
    try:
        max_bytes = parse_bytes(max_size)
    except ValueError:
        raise click.BadParameter(f"{max_size!r} is not a size such as 500M or 64G",
                                 param_hint="--max-size") from None
    limits = ExtractLimits(max_files, max_bytes, max_ratio)
    target = fetch_and_unpack(name, root, url, sha256=sha256, limits=limits)
    click.echo(f"data set in {target}")


@data.command()
@click.argument("a_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("b_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
def combine(a_dir, b_dir, out):
    """Put A_DIR/NAME and B_DIR/NAME side by side into OUT/NAME.png (per train/val/test
    folder if A_DIR has them). Sizes must match."""
    from p2p_cupy.data import tools
    click.echo(f"wrote {tools.combine(a_dir, b_dir, out)} pairs to {out}")


def _report(summary, out):
    skipped = f", skipped {summary['skipped']} unreadable" if summary["skipped"] else ""
    click.echo(f"wrote {summary['written']} pairs to {out}{skipped}")


@data.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
def edges(src, out):
    """Edges -> photo pairs from a folder of photos (our NumPy edge detector)."""
    from p2p_cupy.data import tools
    _report(tools.edges(src, out), out)


@data.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
def colorize(src, out):
    """Grayscale -> color pairs from a folder of photos."""
    from p2p_cupy.data import tools
    _report(tools.colorize(src, out), out)


@data.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--seed", default=0, show_default=True, type=int)
def blank(src, out, seed):
    """Inpainting pairs: photo with a gray rectangle -> photo."""
    from p2p_cupy.data import tools
    _report(tools.blank(src, out, seed), out)


@data.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--val-fraction", default=0.2, show_default=True, type=float)
@click.option("--test-fraction", default=0.0, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, type=int)
def split(src, out, val_fraction, test_fraction, seed):
    """Copy the images of SRC into OUT/train, OUT/val (and OUT/test), shuffled (seeded)."""
    from p2p_cupy.data import tools
    counts = tools.split(src, out, val_fraction, test_fraction, seed)
    click.echo(", ".join(f"{phase}: {n}" for phase, n in counts.items()))
