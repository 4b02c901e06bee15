"""Checkpoints: everything a resumed run needs to continue exactly, with no pickle.

A checkpoint is a state tree: nested dicts and lists whose leaves are numpy arrays or JSON
scalars (model weights and BN buffers including the dropout step counters, both Adam
states, the data loader's order and augmentation RNG states, step, epoch, schedule state,
options). Saving splits it: the arrays go to `NAME.npz` under generated keys, the rest
becomes a JSON document in which each array is {"__array__": key}. That JSON is stored
*inside* the .npz too (key `__tree__`, a unicode array), so the .npz alone is a complete,
self-consistent checkpoint; `NAME.json` next to it is a copy for people and tools.

Atomic: each file is written to a temporary name, flushed to disk and renamed over the
old one (os.replace), so a run killed at any moment leaves either the previous or the new
checkpoint, never a torn one. Loading uses np.load(allow_pickle=False): nothing in a
checkpoint can execute code.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

TREE_KEY = "__tree__"


def split_tree(tree, arrays: dict, path: str = "s"):
    """(JSON-able copy of tree, with arrays moved into `arrays` under unique keys)."""
    if isinstance(tree, dict):
        return {str(k): split_tree(v, arrays, f"{path}/{k}") for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [split_tree(v, arrays, f"{path}/{i}") for i, v in enumerate(tree)]
    if isinstance(tree, np.ndarray):
        arrays[path] = tree
        return {"__array__": path}
    if isinstance(tree, np.generic):
        return tree.item()
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    raise TypeError(f"checkpoint: cannot store {type(tree).__name__} at {path}")


def join_tree(tree, arrays):
    """Inverse of split_tree."""
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            return arrays[tree["__array__"]]
        return {k: join_tree(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [join_tree(v, arrays) for v in tree]
    return tree


def _replace_atomically(path: Path, write):
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(directory, name: str, state: dict) -> Path:
    """Write directory/name.npz (+ name.json); returns the .npz path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    doc = json.dumps(split_tree(state, arrays), indent=1, allow_nan=True)
    arrays[TREE_KEY] = np.array(doc)
    npz = directory / f"{name}.npz"
    _replace_atomically(npz, lambda f: np.savez(f, **arrays))
    _replace_atomically(directory / f"{name}.json", lambda f: f.write(doc.encode()))
    return npz


def load_checkpoint(path) -> dict:
    """The state tree of a .npz checkpoint (arrays as numpy arrays, on the host)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable p2p-cupy checkpoint ({e})") from None
    if TREE_KEY not in arrays:
        raise ValueError(f"{path}: not a p2p-cupy checkpoint (no {TREE_KEY} entry)")
    return join_tree(json.loads(str(arrays.pop(TREE_KEY))), arrays)


def remove_torn_files(directory):
    """Delete the temporary files of saves that a killed run never finished."""
    for tmp in Path(directory).glob(".tmp-*"):
        tmp.unlink()


def checkpoint_dir(run_dir) -> Path:
    return Path(run_dir) / "checkpoints"


def latest_checkpoint(run_dir) -> Path:
    """RUN_DIR/checkpoints/latest.npz, or a clear error when the run has none."""
    path = checkpoint_dir(run_dir) / "latest.npz"
    if not path.exists():
        raise ValueError(f"{run_dir}: no checkpoint found (expected {path})")
    return path


def epoch_name(epoch: int) -> str:
    """The name of the checkpoint kept at the end of an epoch (--save-epoch-freq)."""
    return f"epoch_{epoch:04d}"


def run_checkpoint(run_dir, epoch=None) -> Path:
    """The checkpoint of a run for `epoch`: None or "latest" -> latest.npz, N -> the one
    kept after epoch N (a clear error listing the kept epochs when there is none)."""
    if epoch is None or str(epoch) == "latest":
        return latest_checkpoint(run_dir)
    try:
        n = int(epoch)
    except ValueError:
        raise ValueError(f"--epoch {epoch!r}: expected an epoch number or 'latest'") from None
    path = checkpoint_dir(run_dir) / f"{epoch_name(n)}.npz"
    if not path.exists():
        kept = sorted(int(p.stem.split("_")[1])
                      for p in checkpoint_dir(run_dir).glob("epoch_*.npz"))
        raise ValueError(f"{run_dir}: no checkpoint kept for epoch {n} (kept epochs: "
                         f"{', '.join(map(str, kept)) or 'none'})")
    return path
