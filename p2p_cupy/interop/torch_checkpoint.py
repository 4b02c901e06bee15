"""Read PyTorch checkpoints (`torch.save` of a state_dict) without importing torch.

Two formats exist; both are a pickle whose tensors point at raw storages kept aside:

    zip (torch >= 1.6)   NAME/data.pkl, NAME/data/<key> (one raw storage each),
                         NAME/byteorder ("little" or "big"; absent means little)
    legacy               pickle(magic number), pickle(protocol 1001), pickle(sys_info),
                         pickle(the object), pickle(sorted storage keys), then for each key:
                         int64 element count + the raw bytes

In the object pickle a tensor is `torch._utils._rebuild_tensor_v2(storage, offset, size,
stride, requires_grad, hooks)` and a storage is a *persistent id* ('storage', torch.
FloatStorage, key, location, numel[, view]) that the loader resolves. Nothing else is
needed for a state_dict, so the unpickler below accepts exactly those globals plus
OrderedDict and refuses every other one: unpickling an arbitrary pickle can run any code
(`os.system` is one global away), and a downloaded checkpoint must never do that.

A crafted file must not crash us either. Before anything is built: each pickle's opcodes
are scanned for tuples that would crash or hang Python (pickle_scan.py), every storage is
checked against the size its pickle declares and the memory cap (p2p_cupy/limits.py), and
every tensor's lowest and highest reachable element against its storage, in Python
integers (no overflow), before numpy is given a strided view of it. Negative strides (never
written by PyTorch) and views that read more elements than their storage holds (stride-0
tricks turning 4 bytes into 4 GB) are refused. Every way a damaged file can fail to parse
ends in one TorchCheckpointError line naming the file.
"""
from __future__ import annotations

import functools
import io
import math
import pickle
import struct
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np

from p2p_cupy.errors import P2PError
from p2p_cupy.interop.pickle_scan import check_nesting
from p2p_cupy.limits import ByteBudget

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
MAX_NESTING = 32       # dicts/lists inside each other; a state_dict has 1 level
MAX_DIMS = 32

# torch.<Name>Storage -> element dtype; bfloat16 has no numpy dtype: read as uint16 bits.
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}

# What the standard library and numpy raise on damaged input, anywhere in the parsers
# below (RecursionError and NotImplementedError, a zip's unknown compression, are
# RuntimeErrors). Each becomes one TorchCheckpointError line.
PARSE_ERRORS = (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, zlib.error,
                struct.error, KeyError, IndexError, TypeError, ValueError, AttributeError,
                RuntimeError, OverflowError)


class TorchCheckpointError(P2PError, ValueError):
    """A .pth that is not a readable PyTorch checkpoint; the message names the file."""


class StorageType:
    """What `torch.FloatStorage` etc. unpickle to: only its name and element dtype.
    Immutable (no __dict__, no setattr), so a pickle's BUILD opcode cannot change the
    shared instance for later files."""

    __slots__ = ("name", "dtype")

    def __init__(self, name):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dtype", np.dtype(STORAGE_DTYPES[name]))

    def __setattr__(self, key, value):
        raise AttributeError("StorageType is immutable")


class TensorRecord:
    """A tensor as the pickle describes it; its bytes arrive later (legacy format)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def rebuild_tensor(storage, storage_offset, size, stride, *_requires_grad_hooks_metadata):
    return TensorRecord(storage, storage_offset, size, stride)


def rebuild_parameter(data, *_requires_grad_hooks):
    return data


SAFE_GLOBALS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
    **{("torch", name): StorageType(name) for name in STORAGE_DTYPES},
}


class RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds only tensors, storages and (ordered) dicts; refuses any other global."""

    def __init__(self, file, source, storages=None):
        super().__init__(file)
        self.source = source
        self.storages = storages          # key -> (StorageType, numel) seen in the pickle

    def find_class(self, module, name):
        try:
            found = SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise TorchCheckpointError(
                f"{self.source}: refusing to load global {module}.{name}: a PyTorch "
                "state_dict needs only tensors and dicts, and loading anything else could "
                "run code from the file") from None
        # a fresh wrapper per use: attributes a pickle sets on it (BUILD) die with it
        return functools.partial(found) if callable(found) and found is not OrderedDict \
            else found

    def persistent_load(self, pid):
        if self.storages is None or not (type(pid) is tuple and len(pid) >= 5
                                         and pid[0] == "storage"
                                         and isinstance(pid[1], StorageType)
                                         and type(pid[2]) is str and type(pid[4]) is int
                                         and pid[4] >= 0):
            raise TorchCheckpointError(f"{self.source}: a storage reference that is not "
                                       "('storage', type, key, location, size)")
        _, storage_type, key, _location, numel = pid[:5]
        if self.storages.setdefault(key, (storage_type, numel)) != (storage_type, numel):
            raise TorchCheckpointError(f"{self.source}: storage {key} is declared twice "
                                       "with different types or sizes")
        return key


def unpickle(file, source, storages=None):
    """The next pickle in `file`, scanned first (pickle_scan.py), then restricted-loaded."""
    start = file.tell()
    check_nesting(file)
    file.seek(start)
    return RestrictedUnpickler(file, source, storages).load()


def storage_array(raw: bytes, storage_type: StorageType, byteorder: str) -> np.ndarray:
    """The storage's elements, a read-only view of raw when its byte order is native."""
    dtype = storage_type.dtype.newbyteorder("<" if byteorder == "little" else ">")
    array = np.frombuffer(raw, dtype=dtype)
    if not dtype.isnative:
        array = array.astype(storage_type.dtype)
    if storage_type.name == "BFloat16Storage":    # bfloat16 = the high 16 bits of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def tensor_array(record: TensorRecord, arrays: dict, source, budget: ByteBudget):
    """A C-contiguous copy of the tensor `record` describes, after proving that every
    element it reaches lies inside its storage."""
    offset, size, stride = record.offset, record.size, record.stride
    if not (type(offset) is int and isinstance(size, (tuple, list))
            and isinstance(stride, (tuple, list)) and len(size) == len(stride) <= MAX_DIMS
            and all(type(v) is int for v in (*size, *stride))):
        raise TorchCheckpointError(f"{source}: a tensor with a malformed offset, size or "
                                   "stride")
    flat = arrays.get(record.storage)
    if flat is None:
        raise TorchCheckpointError(f"{source}: a tensor refers to storage "
                                   f"{record.storage!r}, which the file does not hold")
    size, stride = tuple(size), tuple(stride)
    if offset < 0 or min(size, default=0) < 0:
        raise TorchCheckpointError(f"{source}: a tensor with a negative offset or size "
                                   f"(offset {offset}, size {size})")
    if min(stride, default=0) < 0:
        raise TorchCheckpointError(f"{source}: a tensor with a negative stride {stride} "
                                   "(PyTorch never writes one)")
    numel = math.prod(size)
    if numel == 0:
        return np.zeros(size, flat.dtype)
    # Python integers: no overflow however large the numbers in the file
    lowest = offset + sum((n - 1) * s for n, s in zip(size, stride) if s < 0)
    highest = offset + sum((n - 1) * s for n, s in zip(size, stride) if s > 0)
    if lowest < 0 or highest >= flat.size:
        raise TorchCheckpointError(
            f"{source}: a tensor of size {size}, stride {stride} at offset {offset} reaches "
            f"elements {lowest}..{highest} of a storage of {flat.size}")
    if numel > flat.size:
        raise TorchCheckpointError(
            f"{source}: a tensor of size {size}, stride {stride} reads {numel:,} elements "
            f"from a storage of {flat.size:,} (overlapping strides repeat elements)")
    budget.take(numel * flat.itemsize, f"a tensor of size {size}")
    # a dimension of size 1 is never stepped along: its stride may be any number
    byte_strides = [s * flat.itemsize if n > 1 else 0 for n, s in zip(size, stride)]
    view = np.lib.stride_tricks.as_strided(flat[offset:], size, byte_strides,
                                           writeable=False)
    return view.copy()                         # C-contiguous, and 0-d stays 0-d


def resolve(obj, arrays: dict, source, budget: ByteBudget):
    """Replace every TensorRecord in a (nested) dict/list by a numpy array. Each object
    is converted once (a pickle can share one list a million times) and never deeper
    than MAX_NESTING."""
    done = {}

    def convert(item, depth):
        if id(item) in done:
            return done[id(item)]
        if depth > MAX_NESTING:
            raise TorchCheckpointError(f"{source}: containers nested more than "
                                       f"{MAX_NESTING} deep")
        if isinstance(item, TensorRecord):
            out = tensor_array(item, arrays, source, budget)
        elif isinstance(item, dict):
            out = OrderedDict((k, convert(v, depth + 1)) for k, v in item.items())
        elif type(item) in (list, tuple):
            out = type(item)(convert(v, depth + 1) for v in item)
        else:
            return item
        done[id(item)] = out
        return out

    return convert(obj, 0)


def read_member(archive: zipfile.ZipFile, name: str, budget: ByteBudget, what: str) -> bytes:
    """A zip member's bytes, charged to the budget by its declared size first (zipfile
    never returns more than that)."""
    budget.take(archive.getinfo(name).file_size, what)
    return archive.read(name)


def load_zip(path: Path, budget: ByteBudget):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise TorchCheckpointError(f"{path}: a zip but not a PyTorch checkpoint (no "
                                       "NAME/data.pkl)")
        prefix = pickles[0][:-len("data.pkl")]
        byteorder = "little"
        if f"{prefix}byteorder" in names:
            byteorder = read_member(archive, f"{prefix}byteorder", budget, "byteorder")
            byteorder = byteorder.decode("ascii").strip()
            if byteorder not in ("little", "big"):
                raise TorchCheckpointError(f"{path}: byteorder {byteorder[:20]!r} is neither "
                                           "little nor big")
        storages = {}
        data = read_member(archive, pickles[0], budget, "the pickle")
        obj = unpickle(io.BytesIO(data), path, storages)
        arrays = {}
        for key, (storage_type, numel) in storages.items():
            name = f"{prefix}data/{key}"
            if name not in names:
                raise TorchCheckpointError(f"{path}: storage data/{key} is missing")
            nbytes = numel * storage_type.dtype.itemsize
            if archive.getinfo(name).file_size != nbytes:
                raise TorchCheckpointError(
                    f"{path}: storage data/{key} holds {archive.getinfo(name).file_size} "
                    f"bytes, the pickle declares {numel} elements ({nbytes} bytes)")
            raw = read_member(archive, name, budget, f"storage data/{key}")
            arrays[key] = storage_array(raw, storage_type, byteorder)
    return resolve(obj, arrays, path, budget)


def load_legacy(path: Path, budget: ByteBudget):
    budget.take(path.stat().st_size, "the whole legacy-format file")
    f = io.BytesIO(path.read_bytes())
    try:
        magic = unpickle(f, path)
    except (pickle.UnpicklingError, EOFError, ValueError):
        raise TorchCheckpointError(f"{path}: neither a zip nor a legacy PyTorch "
                                   "checkpoint") from None
    if type(magic) is not int or magic != LEGACY_MAGIC:
        raise TorchCheckpointError(f"{path}: not a PyTorch checkpoint (wrong magic number)")
    if unpickle(f, path) != LEGACY_PROTOCOL:
        raise TorchCheckpointError(f"{path}: unsupported legacy PyTorch protocol version")
    sys_info = unpickle(f, path)
    if not isinstance(sys_info, dict):
        raise TorchCheckpointError(f"{path}: the legacy header is not a dict")
    byteorder = "little" if sys_info.get("little_endian", True) else "big"
    storages = {}
    obj = unpickle(f, path, storages)
    keys = unpickle(f, path)
    if type(keys) is not list or not all(type(k) is str for k in keys):
        raise TorchCheckpointError(f"{path}: the legacy storage list is not a list of keys")
    arrays = {}
    for key in keys:                              # storages follow in this order
        if key not in storages:
            raise TorchCheckpointError(f"{path}: storage {key!r} is not used by the pickle")
        storage_type, numel = storages[key]
        count = int.from_bytes(f.read(8), byteorder, signed=True)
        raw = f.read(numel * storage_type.dtype.itemsize)
        if count != numel or len(raw) != numel * storage_type.dtype.itemsize:
            raise TorchCheckpointError(f"{path}: storage {key} is truncated or inconsistent")
        arrays[key] = storage_array(raw, storage_type, byteorder)
    return resolve(obj, arrays, path, budget)


def load_torch_checkpoint(path, max_bytes: int | None = None) -> "OrderedDict":
    """The object a PyTorch checkpoint holds, tensors as numpy arrays (no torch needed).
    It may allocate at most max_bytes (default: p2p_cupy/limits.py)."""
    path = Path(path)
    if not path.is_file():
        raise TorchCheckpointError(f"{path}: no such file")
    budget = ByteBudget(path, max_bytes)
    try:
        if zipfile.is_zipfile(path):
            return load_zip(path, budget)
        return load_legacy(path, budget)
    except P2PError:
        raise
    except MemoryError:
        raise TorchCheckpointError(f"{path}: out of memory while reading it") from None
    except (*PARSE_ERRORS, OSError) as e:     # OSError: e.g. a seek to a made-up offset
        reason = " ".join(str(e).split())[:200]
        raise TorchCheckpointError(f"{path}: corrupt PyTorch checkpoint "
                                   f"({type(e).__name__}: {reason})") from None


def load_state_dict(path, max_bytes: int | None = None) -> "OrderedDict[str, np.ndarray]":
    """A checkpoint that holds a state_dict: name -> numpy array (checked)."""
    obj = load_torch_checkpoint(path, max_bytes)
    if not isinstance(obj, dict) or not all(type(k) is str and isinstance(v, np.ndarray)
                                            for k, v in obj.items()):
        raise TorchCheckpointError(f"{path}: expected a state_dict (a dict of named "
                                   f"tensors), got {type(obj).__name__}")
    return obj
