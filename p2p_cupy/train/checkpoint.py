"""Checkpoints: everything a resumed run needs to continue exactly, with no pickle.

A checkpoint is a state tree: nested dicts and lists whose leaves are numpy arrays or JSON
scalars (model weights and BN buffers including the dropout step counters, both Adam
states, the data loader's order and augmentation RNG states, step, epoch, schedule state,
options). Saving splits it: the arrays go to `NAME.npz` under generated keys, the rest
becomes a JSON document in which each array is {"__array__": key}. That JSON is stored
*inside* the .npz too (key `__tree__`, a unicode array), so the .npz alone is a complete,
self-consistent checkpoint; `NAME.json` next to it is a copy for people and tools.

Atomic: each file is written to a temporary name, flushed to disk and renamed over the
old one (os.replace), and the folder is fsynced after the rename (p2p_cupy/safe_files.py),
so a run killed at any moment leaves either the previous or the new checkpoint, never a
torn one.

Loading never trusts the file (a checkpoint may come from anywhere, e.g. `p2p convert` of
a downloaded model). CheckpointFile reads the JSON tree and only the *headers* of the
arrays (np.lib.format: shape, dtype), and checks them before any array data is read: the
tree's array references and the file's arrays must match one to one, every array must be
a plain number array (no object arrays, nothing that needs pickle), its stored size must
be what its header declares, and all of them together must fit the memory cap
(p2p_cupy/limits.py). load(expected) then compares the names, shapes and dtypes with what
the model that will receive them expects (p2p_cupy/train/expected.py) and reads only the
parts it names. Every problem is one CheckpointError line naming the file.
"""
from __future__ import annotations

import json
import math
import os
import struct
import zipfile
import zlib
from collections import namedtuple
from pathlib import Path

import numpy as np

from p2p_cupy.errors import P2PError
from p2p_cupy.limits import ByteBudget
from p2p_cupy.safe_files import TEMP_PREFIX, replace_atomically

TREE_KEY = "__tree__"
MAX_TREE_BYTES = 64 << 20          # the JSON part; a unet_256 run's is ~100 kB
NUMBER_KINDS = "biuf"              # bool, signed and unsigned int, float
MAX_LISTED = 5                     # names listed in one error message
MAX_DEPTH = 32                     # dicts and lists inside each other; ours use 4

# What zipfile, zlib, numpy's header parser and json raise on damaged input (RecursionError,
# from a deeply nested tree, and NotImplementedError, an unknown compression, are
# RuntimeErrors). Each becomes one CheckpointError line.
PARSE_ERRORS = (zipfile.BadZipFile, zlib.error, struct.error, EOFError, ValueError,
                TypeError, KeyError, IndexError, OverflowError, RuntimeError)

ArraySpec = namedtuple("ArraySpec", "shape dtype")
ArraySpec.__doc__ = "An array a checkpoint must hold: its exact shape, a dtype of the same kind."


class CheckpointError(P2PError, ValueError):
    """A .npz that is not a usable p2p-cupy checkpoint; the message names the file."""


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


def save_checkpoint(directory, name: str, state: dict) -> Path:
    """Write directory/name.npz (+ name.json); returns the .npz path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    doc = json.dumps(split_tree(state, arrays), indent=1, allow_nan=True)
    arrays[TREE_KEY] = np.array(doc)
    npz = directory / f"{name}.npz"
    replace_atomically(npz, lambda f: np.savez(f, **arrays))
    replace_atomically(directory / f"{name}.json", lambda f: f.write(doc.encode()))
    return npz


def _names(items) -> str:
    items = sorted(items)
    more = f" (and {len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else ""
    return ", ".join(items[:MAX_LISTED]) + more


def _is_ref(node) -> bool:
    return isinstance(node, dict) and set(node) == {"__array__"}


def array_refs(node, found: set = None, depth: int = 0) -> set:
    """The array keys a (JSON) tree refers to."""
    found = set() if found is None else found
    if depth > MAX_DEPTH:
        raise ValueError(f"the tree is nested more than {MAX_DEPTH} deep")
    if _is_ref(node):
        if not isinstance(node["__array__"], str):
            raise TypeError("an array reference that is not a string")
        found.add(node["__array__"])
    elif isinstance(node, dict):
        for value in node.values():
            array_refs(value, found, depth + 1)
    elif isinstance(node, list):
        for value in node:
            array_refs(value, found, depth + 1)
    return found


class CheckpointFile:
    """A checkpoint .npz, opened and checked but not yet read: `tree` is its JSON document
    (arrays as {"__array__": key}), `headers` each array's key -> ArraySpec, as declared."""

    def __init__(self, path, max_bytes: int | None = None):
        self.path = Path(path)
        self.budget = ByteBudget(self.path, max_bytes)
        try:
            with zipfile.ZipFile(self.path) as archive:
                self.headers = {}
                for info in archive.infolist():
                    if not info.filename.endswith(".npy"):
                        raise CheckpointError(f"{self.path}: holds {info.filename!r}, which "
                                              "is not an array (.npy)")
                    self.headers[info.filename[:-4]] = self._header(archive, info)
                if TREE_KEY not in self.headers:
                    raise CheckpointError(f"{self.path}: not a p2p-cupy checkpoint (no "
                                          f"{TREE_KEY} entry)")
                tree_text = self._read(archive, TREE_KEY)
            self.tree = json.loads(str(tree_text))
            refs = array_refs(self.tree)
        except P2PError:
            raise
        except (OSError, MemoryError) as e:
            raise CheckpointError(f"{self.path}: cannot read this checkpoint "
                                  f"({type(e).__name__}: {e})") from None
        except PARSE_ERRORS as e:
            raise CheckpointError(f"{self.path}: not a readable p2p-cupy checkpoint "
                                  f"({type(e).__name__}: {' '.join(str(e).split())[:200]})") \
                from None
        if not isinstance(self.tree, dict):
            raise CheckpointError(f"{self.path}: the checkpoint's tree is not a dict")
        arrays = set(self.headers) - {TREE_KEY}
        if refs - arrays:
            raise CheckpointError(f"{self.path}: arrays missing from the file: "
                                  f"{_names(refs - arrays)}")
        if arrays - refs:
            raise CheckpointError(f"{self.path}: arrays the checkpoint does not use: "
                                  f"{_names(arrays - refs)}")

    def _header(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> ArraySpec:
        """Shape and dtype from a member's .npy header, after checking that the member
        holds exactly the bytes they declare and that the budget allows them."""
        key = info.filename[:-4]
        with archive.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise CheckpointError(f"{self.path}: array {key} has .npy format "
                                      f"{version}, not 1.0 or 2.0")
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                else np.lib.format.read_array_header_2_0
            shape, _fortran, dtype = read(f)
            header_bytes = f.tell()
        if key == TREE_KEY:
            if dtype.kind != "U" or shape != ():
                raise CheckpointError(f"{self.path}: {TREE_KEY} is not a text entry")
        elif dtype.kind not in NUMBER_KINDS or dtype.hasobject or dtype.fields:
            raise CheckpointError(f"{self.path}: array {key} has dtype {dtype}; a checkpoint "
                                  "holds only bool, integer and float arrays")
        if min(shape, default=0) < 0:
            raise CheckpointError(f"{self.path}: array {key} has a negative size {shape}")
        nbytes = math.prod(shape) * dtype.itemsize          # Python ints: no overflow
        if info.file_size != header_bytes + nbytes:
            raise CheckpointError(
                f"{self.path}: array {key} declares shape {shape} of {dtype} ({nbytes:,} "
                f"bytes) but holds {info.file_size - header_bytes:,}")
        if key == TREE_KEY and nbytes > MAX_TREE_BYTES:
            raise CheckpointError(f"{self.path}: {TREE_KEY} is {nbytes:,} bytes, more than "
                                  f"the {MAX_TREE_BYTES:,} a checkpoint's tree may have")
        self.budget.take(nbytes, f"array {key} of shape {shape}")
        return ArraySpec(shape, dtype)

    def _read(self, archive: zipfile.ZipFile, key: str) -> np.ndarray:
        with archive.open(f"{key}.npy") as f:
            return np.lib.format.read_array(f, allow_pickle=False)

    def options_dict(self) -> dict:
        options = self.tree.get("options")
        if not isinstance(options, dict):
            raise CheckpointError(f"{self.path}: holds no training options")
        return options

    def check(self, expected: dict):
        """Compare the tree with `expected`: nested dicts whose leaves are ArraySpec (an
        array of that shape and kind of dtype), a type or tuple of types (a JSON value), or
        None (anything). The top level must have the expected parts (others are ignored:
        translating needs only G of a training checkpoint), every dict below exactly the
        expected keys."""
        missing = set(expected) - set(self.tree)
        if missing:
            raise CheckpointError(f"{self.path}: holds no {_names(missing)} (it holds "
                                  f"{_names(self.tree) or 'nothing'})")
        for key, spec in expected.items():
            _check_node(self, self.tree[key], spec, key)

    def load(self, expected: dict | None = None) -> dict:
        """The state tree with its arrays read; given `expected` (see check), only the
        top-level parts it names, checked first."""
        if expected is not None:
            self.check(expected)
        parts = self.tree if expected is None else \
            {k: v for k, v in self.tree.items() if k in expected}
        wanted = sorted(array_refs(parts))
        try:
            with zipfile.ZipFile(self.path) as archive:
                arrays = {key: self._read(archive, key) for key in wanted}
        except (OSError, MemoryError) as e:
            raise CheckpointError(f"{self.path}: cannot read this checkpoint "
                                  f"({type(e).__name__}: {e})") from None
        except PARSE_ERRORS as e:
            raise CheckpointError(f"{self.path}: a damaged array ({type(e).__name__}: "
                                  f"{' '.join(str(e).split())[:200]})") from None
        for key, array in arrays.items():     # the header was checked, the data must agree
            if array.shape != self.headers[key].shape:
                raise CheckpointError(f"{self.path}: array {key} changed while reading")
        return join_tree(parts, arrays)


def _check_node(ckpt: CheckpointFile, node, spec, name: str):
    if spec is None:
        return
    if isinstance(spec, ArraySpec):
        if not _is_ref(node):
            raise CheckpointError(f"{ckpt.path}: {name} should be an array of shape "
                                  f"{spec.shape}")
        shape, dtype = ckpt.headers[node["__array__"]]
        if shape != tuple(spec.shape):
            raise CheckpointError(f"{ckpt.path}: {name} has shape {shape}, the model "
                                  f"expects {tuple(spec.shape)}")
        if not np.can_cast(dtype, spec.dtype, "same_kind"):
            raise CheckpointError(f"{ckpt.path}: {name} has dtype {dtype}, the model "
                                  f"expects {np.dtype(spec.dtype)}")
    elif isinstance(spec, dict):
        if not isinstance(node, dict) or _is_ref(node):
            raise CheckpointError(f"{ckpt.path}: {name} should be a dict")
        missing, unexpected = set(spec) - set(node), set(node) - set(spec)
        if missing or unexpected:
            parts = ([f"missing {_names(missing)}"] if missing else []) + \
                ([f"unexpected {_names(unexpected)}"] if unexpected else [])
            raise CheckpointError(f"{ckpt.path}: {name} does not fit this model: "
                                  f"{'; '.join(parts)}")
        for key, value in spec.items():
            _check_node(ckpt, node[key], value, f"{name}.{key}")
    else:
        types = spec if isinstance(spec, tuple) else (spec,)
        if _is_ref(node) or not isinstance(node, types) or \
                (isinstance(node, bool) and bool not in types):
            wanted = " or ".join(t.__name__ for t in types)
            raise CheckpointError(f"{ckpt.path}: {name} should be {wanted}, got "
                                  f"{'an array' if _is_ref(node) else type(node).__name__}")


def load_checkpoint(path, expected: dict | None = None) -> dict:
    """The state tree of a .npz checkpoint (arrays as numpy arrays, on the host), checked
    (see CheckpointFile) before its arrays are read."""
    return CheckpointFile(path).load(expected)


def remove_torn_files(directory):
    """Delete the temporary files of saves that a killed run never finished. Only call it
    while holding the run's lock (p2p_cupy/train/run_lock.py): then no live process is
    writing one of them."""
    for tmp in Path(directory).glob(f"{TEMP_PREFIX}*"):
        tmp.unlink(missing_ok=True)


def checkpoint_dir(run_dir) -> Path:
    return Path(run_dir) / "checkpoints"


def latest_checkpoint(run_dir) -> Path:
    """RUN_DIR/checkpoints/latest.npz, or a clear error when the run has none."""
    path = checkpoint_dir(run_dir) / "latest.npz"
    if not path.exists():
        raise CheckpointError(f"{run_dir}: no checkpoint found (expected {path})")
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
