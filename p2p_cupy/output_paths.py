"""Where a command writes its outputs: the one rule every command that turns input files
into output files follows (translate, test, p2p data combine/edges/colorize/blank/split).

plan_outputs gives each input its own output names and refuses, before anything is
written, any output that would land on an input of the same command:

- Inputs that share a stem (a.png and a.jpg) get their extension in the name (a_png.png,
  a_jpg.png) instead of one overwriting the other; a name that is still taken gets _2, _3.
  Names are compared case-insensitively, so they stay distinct on macOS and Windows too.
- An output path that is an input (the same path, or the same file through a link) is a
  P2PError naming both: `p2p translate --out . photo.png` in the photo's folder would
  replace the photo.
- With `away_from_inputs`, the output folder may not be a folder the inputs come from:
  pairs written next to the photos would be read back as photos by the next run.

Every command that writes files, also those writing one file (export, convert) or a fixed
set (test's metrics.json and index.html, inspect activations), checks each path with
check_output: besides the inputs, a run folder's own files are refused: its report,
loss log and lock, and anything in its checkpoints/ and samples/ folders, which only
training writes (`p2p test --out RUN` would replace the run's report; `p2p export --out
RUN/checkpoints/latest.npz` its checkpoint).
"""
from __future__ import annotations

import os
from pathlib import Path

from p2p_cupy.errors import P2PError


class OutputClash(P2PError, ValueError):
    """An output would overwrite an input; the message names both."""


def distinct_stems(paths) -> list:
    """A name per path: its stem, or stem_ext where several paths share the stem."""
    paths = [Path(p) for p in paths]
    counts = {}
    for p in paths:
        counts[p.stem.casefold()] = counts.get(p.stem.casefold(), 0) + 1
    wanted = [p.stem if counts[p.stem.casefold()] == 1 else
              f"{p.stem}_{p.suffix.lstrip('.').lower()}" for p in paths]
    taken, names = set(), []
    for name in wanted:
        unique, n = name, 1
        while unique.casefold() in taken:
            n += 1
            unique = f"{name}_{n}"
        taken.add(unique.casefold())
        names.append(unique)
    return names


def _file_id(path: Path):
    """(device, inode) of an existing path, None otherwise: the same file under any name."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


# What training writes in a run folder (p2p_cupy/train): files, and folders it owns.
RUN_FILES = ("index.html", "loss_log.csv", ".lock")
RUN_FOLDERS = ("checkpoints", "samples")


def _is_run_folder(folder: Path) -> bool:
    return (folder / "checkpoints").is_dir() and (folder / "loss_log.csv").is_file()


def run_owning(path) -> Path | None:
    """The run folder whose training output `path` is (or would be), else None."""
    path = Path(os.path.abspath(path))
    for folder in (path.parent, path.parent.parent):
        if _is_run_folder(folder):
            inside = path.relative_to(folder).parts
            if inside[0] in RUN_FOLDERS or inside == (inside[0],) and inside[0] in RUN_FILES:
                return folder
    return None


class _Inputs:
    """A command's input files, asked whether an output path is one of them: by path, or,
    for an output that already exists, by (device, inode), which finds it through links
    too. The inode index is built only once some output exists."""

    def __init__(self, paths):
        self.paths = [Path(p) for p in paths]
        self.by_name = {os.path.abspath(p): p for p in self.paths}
        self.by_id = None

    def clashing_with(self, out: Path):
        """The input that `out` is, or None."""
        found = self.by_name.get(os.path.abspath(out))
        if found is None and out.exists():
            if self.by_id is None:
                self.by_id = {_file_id(p): p for p in self.paths}
                self.by_id.pop(None, None)
            found = self.by_id.get(_file_id(out))
        return found


def _refuse_clashes(out: Path, inputs: _Inputs, choose: str):
    clash = inputs.clashing_with(out)
    if clash is not None:
        raise OutputClash(f"{out}: would overwrite the input {clash}; choose another {choose}")
    run = run_owning(out)
    if run is not None:
        raise OutputClash(f"{out}: is a file of the training run {run} (only training writes "
                          f"there); choose another {choose}")


def check_output(out, inputs=()):
    """Refuse (OutputClash) writing `out` when it is one of `inputs` (the same path, or
    the same file through a link) or a file of a training run (run_owning)."""
    _refuse_clashes(Path(out), _Inputs(inputs), "output")


def plan_outputs(inputs, out_dir, templates=("{stem}.png",), other_inputs=(),
                 away_from_inputs=False) -> list:
    """For each of `inputs`, a tuple of out_dir / template.format(stem=its distinct stem,
    name=its file name), one per template. Refuses (OutputClash) any planned path that is
    one of `inputs` or `other_inputs` (files the command also reads, e.g. the
    checkpoint), and with away_from_inputs an out_dir that holds one of the inputs."""
    inputs = [Path(p) for p in inputs]
    out_dir = Path(out_dir)
    every_input = inputs + [Path(p) for p in other_inputs]
    if away_from_inputs and out_dir.exists():
        for folder in {p.parent for p in every_input}:
            if _file_id(folder) == _file_id(out_dir):
                raise OutputClash(f"{out_dir}: is the folder the inputs are read from (e.g. "
                                  f"{next(p for p in every_input if p.parent == folder)}); "
                                  f"write the outputs to another folder, or the next run would "
                                  f"read them back as inputs")
    plan = [tuple(out_dir / t.format(stem=stem, name=path.name) for t in templates)
            for path, stem in zip(inputs, distinct_stems(inputs))]
    known_inputs = _Inputs(every_input)
    for outputs in plan:
        for out in outputs:
            _refuse_clashes(out, known_inputs, "output folder")
    return plan
