"""What a training run leaves for a person to look at, in its run directory:

    loss_log.csv      step, epoch, lr and every loss, one row per iteration
    samples/*.png     input | output | target triplets, every --sample-freq steps
    index.html        the losses over time (inline SVG), the latest samples, the
                      options and the speed; plain HTML, opens from the file system

No plotting library: the charts are SVG polylines written here.
"""
from __future__ import annotations

import csv
import html
import io
import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from p2p_cupy.data.images import to_uint8_image
from p2p_cupy.safe_files import naming, replace_atomically, write_text_atomically

LOSS_NAMES = ("G_GAN", "G_L1", "D_real", "D_fake")


def loss_names(gan_mode: str) -> tuple:
    """The losses a run logs: wgangp adds its gradient penalty, D_GP."""
    return LOSS_NAMES + (("D_GP",) if gan_mode == "wgangp" else ())


SAMPLES_SHOWN = 6


def triplet_grid(real_A, fake_B, real_B, max_rows=4) -> np.ndarray:
    """Rows of input | output | target for the first `max_rows` items of a host batch."""
    rows = [np.concatenate([to_uint8_image(a), to_uint8_image(f), to_uint8_image(b)], axis=1)
            for a, f, b in list(zip(real_A, fake_B, real_B))[:max_rows]]
    return np.concatenate(rows, axis=0)


class TornLogWarning(UserWarning):
    """A loss_log.csv line left incomplete by a killed run, dropped on reading."""


def _parse_row(fields, header):
    """{column: value} of one CSV row (step and epoch int, the rest float), or None if it
    is not a whole row."""
    if len(fields) != len(header):
        return None
    try:
        return {k: (int(v) if k in ("step", "epoch") else float(v))
                for k, v in zip(header, fields)}
    except ValueError:
        return None


class RunReport:
    """Appends to the loss log, saves sample grids and rewrites index.html."""

    def __init__(self, run_dir, loss_names=LOSS_NAMES):
        self.run_dir, self.loss_names = Path(run_dir), tuple(loss_names)
        self.header = ("step", "epoch", "lr", *self.loss_names)    # the loss log's columns
        self.samples_dir = self.run_dir / "samples"
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.run_dir / "loss_log.csv"

    # --- loss log -----------------------------------------------------------------
    def truncate_log(self, step: int):
        """Drop rows after `step`: a run killed after its last checkpoint logged steps
        that the resumed run will redo. The log is rewritten through a temporary file, so
        a kill during the rewrite leaves the old log, never a part of it."""
        rows = [[row[k] for k in self.header] for row in self.read_log(warn=True)
                if row["step"] <= step]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.header)
        writer.writerows(rows)
        write_text_atomically(self.log_path, buffer.getvalue())

    def log_losses(self, rows):
        """rows: (step, epoch, lr, {loss name: float}) tuples, appended in order."""
        new = not self.log_path.exists()
        with naming(self.log_path), open(self.log_path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(self.header)
            for step, epoch, lr, losses in rows:
                writer.writerow([step, epoch, repr(float(lr))]
                                + [repr(float(losses[k])) for k in self.loss_names])

    def read_log(self, warn: bool = False) -> list:
        """The logged rows as {column: value}. A last line without its newline was torn by a kill mid-append: it is
        dropped (with a warning if `warn`), as is any other row that does not parse."""
        if not self.log_path.exists():
            return []
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        if lines and not text.endswith("\n"):
            if warn:
                warnings.warn(f"{self.log_path}: dropped its torn last line {lines[-1]!r} "
                              f"(the run was killed while writing it)", TornLogWarning)
            lines = lines[:-1]
        rows = []
        for number, fields in enumerate(csv.reader(lines[1:]), start=2):
            row = _parse_row(fields, self.header)
            if row is None:
                if warn:
                    warnings.warn(f"{self.log_path}: dropped unreadable line {number}",
                                  TornLogWarning)
                continue
            rows.append(row)
        return rows

    # --- samples ------------------------------------------------------------------
    def save_sample(self, step: int, real_A, fake_B, real_B) -> Path:
        """Save host batches as one PNG of input | output | target rows."""
        path = self.samples_dir / f"step_{step:07d}.png"
        grid = Image.fromarray(triplet_grid(real_A, fake_B, real_B))
        return replace_atomically(path, lambda f: grid.save(f, format="PNG"))

    def sample_paths(self) -> list:
        return sorted(self.samples_dir.glob("step_*.png"))

    # --- index.html ---------------------------------------------------------------
    def write_index(self, options: dict, status: dict, extra: str = ""):
        """status: a few facts shown at the top (step, epoch, speed, device, state);
        extra: more HTML before the options (the --inspect-freq section)."""
        rows = self.read_log()
        charts = "\n".join(loss_chart(name, [r["step"] for r in rows], [r[name] for r in rows])
                           for name in self.loss_names)
        samples = "\n".join(
            f'<figure><img src="samples/{p.name}" alt="{p.name}">'
            f'<figcaption>step {int(p.stem.split("_")[1])}</figcaption></figure>'
            for p in reversed(self.sample_paths()[-SAMPLES_SHOWN:]))
        facts = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                        for k, v in status.items())
        opts = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in sorted(options.items()))
        write_text_atomically(self.run_dir / "index.html", PAGE.format(
            title=html.escape(str(options.get("name", self.run_dir.name))), facts=facts,
            charts=charts or "<p>no losses logged yet</p>",
            samples=samples or "<p>no samples yet</p>", extra=extra, options=opts))


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - p2p-cupy</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 18px; margin-top: 28px; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ text-align: left; padding: 2px 12px 2px 0; vertical-align: top; }}
th {{ color: #555; font-weight: 600; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 16px; }}
.charts svg {{ background: #fafafa; border: 1px solid #ddd; }}
figure {{ display: inline-block; margin: 0 16px 16px 0; }}
figure img {{ image-rendering: pixelated; min-width: 384px; border: 1px solid #ccc; }}
figcaption {{ font-size: 13px; color: #555; }}
</style></head><body>
<h1>pix2pix run: {title}</h1>
<table>{facts}</table>
<h2>Losses</h2>
<div class="charts">{charts}</div>
<h2>Latest samples (input | output | target)</h2>
{samples}
{extra}
<h2>Options</h2>
<table>{options}</table>
</body></html>
"""


def loss_chart(name: str, steps, values, width=520, height=220) -> str:
    """One loss against the step as an SVG line chart with labelled axes."""
    points = [(s, v) for s, v in zip(steps, values) if math.isfinite(v)]
    if not points:
        return ""
    left, right, top, bottom = 56, 12, 24, 34
    x0, x1 = min(s for s, _ in points), max(s for s, _ in points)
    y0, y1 = min(v for _, v in points), max(v for _, v in points)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1e-6)

    def sx(s):
        return left + (s - x0) / (x1 - x0) * (width - left - right)

    def sy(v):
        return top + (y1 - v) / (y1 - y0) * (height - top - bottom)

    # Long runs: plot a moving average over ~width points, the raw log is in the CSV.
    window = max(1, len(points) // (width - left - right))
    smoothed = [(points[i][0], sum(v for _, v in points[i:i + window]) / len(points[i:i + window]))
                for i in range(0, len(points), window)]
    line = " ".join(f"{sx(s):.1f},{sy(v):.1f}" for s, v in smoothed)
    ticks = []
    for frac in (0.0, 0.5, 1.0):
        v = y0 + frac * (y1 - y0)
        ticks.append(f'<text x="{left - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:.3g}</text>'
                     f'<line x1="{left}" x2="{width - right}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" '
                     'stroke="#e4e4e4"/>')
        s = x0 + frac * (x1 - x0)
        ticks.append(f'<text x="{sx(s):.1f}" y="{height - bottom + 16}" '
                     f'text-anchor="middle">{int(round(s))}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-size="11" font-family="sans-serif" role="img" aria-label="{name} loss">'
            f'<text x="{left}" y="16" font-size="13" font-weight="600">{name}</text>'
            f'{"".join(ticks)}'
            f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" stroke="#888"/>'
            f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" '
            f'y2="{height - bottom}" stroke="#888"/>'
            f'<text x="{width - right}" y="{height - 4}" text-anchor="end">step</text>'
            f'<polyline fill="none" stroke="#1f6fb2" stroke-width="1.5" points="{line}"/>'
            '</svg>')
