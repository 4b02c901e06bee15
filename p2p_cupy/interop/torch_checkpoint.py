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
"""
from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch.<Name>Storage -> element dtype; bfloat16 has no numpy dtype: read as uint16 bits.
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class StorageType:
    """What `torch.FloatStorage` etc. unpickle to: only its name and element dtype."""

    def __init__(self, name):
        self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name])


class TensorRecord:
    """A tensor as the pickle describes it; its bytes arrive later (legacy format)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def rebuild_tensor(storage, storage_offset, size, stride, *_requires_grad_hooks_metadata):
    return TensorRecord(storage, storage_offset, tuple(size), tuple(stride))


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
            return SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise ValueError(f"{self.source}: refusing to load global {module}.{name}: a "
                             "PyTorch state_dict needs only tensors and dicts, and loading "
                             "anything else could run code from the file") from None

    def persistent_load(self, pid):
        if self.storages is None or not (isinstance(pid, tuple) and len(pid) >= 5
                                         and pid[0] == "storage"
                                         and isinstance(pid[1], StorageType)):
            raise ValueError(f"{self.source}: unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        self.storages[str(key)] = (storage_type, int(numel))
        return str(key)


def unpickle(data: bytes, source, storages=None):
    return RestrictedUnpickler(io.BytesIO(data), source, storages).load()


def storage_array(raw: bytes, storage_type: StorageType, byteorder: str) -> np.ndarray:
    dtype = storage_type.dtype.newbyteorder("<" if byteorder == "little" else ">")
    array = np.frombuffer(raw, dtype=dtype).astype(storage_type.dtype.newbyteorder("="))
    if storage_type.name == "BFloat16Storage":    # bfloat16 = the high 16 bits of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def resolve(obj, arrays: dict, source):
    """Replace every TensorRecord in a (nested) dict/list by a numpy array."""
    if isinstance(obj, TensorRecord):
        flat = arrays[obj.storage]
        item = flat.itemsize
        end = obj.offset + sum((n - 1) * s for n, s in zip(obj.size, obj.stride)) + 1
        if min(obj.size, default=1) > 0 and (obj.offset < 0 or end > flat.size):
            raise ValueError(f"{source}: a tensor of shape {obj.size} reaches past its storage "
                             f"({flat.size} elements)")
        view = np.lib.stride_tricks.as_strided(flat[obj.offset:], obj.size,
                                               [s * item for s in obj.stride])
        return view.copy()                         # C-contiguous, and 0-d stays 0-d
    if isinstance(obj, dict):
        return OrderedDict((k, resolve(v, arrays, source)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(resolve(v, arrays, source) for v in obj)
    return obj


def load_zip(path: Path):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"{path}: a zip but not a PyTorch checkpoint (no NAME/data.pkl)")
        prefix = pickles[0][:-len("data.pkl")]
        byteorder = "little"
        if f"{prefix}byteorder" in names:
            byteorder = archive.read(f"{prefix}byteorder").decode().strip()
        storages = {}
        obj = unpickle(archive.read(pickles[0]), path, storages)
        arrays = {}
        for key, (storage_type, numel) in storages.items():
            try:
                raw = archive.read(f"{prefix}data/{key}")
            except KeyError:
                raise ValueError(f"{path}: storage data/{key} is missing") from None
            arrays[key] = storage_array(raw, storage_type, byteorder)
            if arrays[key].size != numel:
                raise ValueError(f"{path}: storage {key} holds {arrays[key].size} elements, "
                                 f"the pickle says {numel}")
    return resolve(obj, arrays, path)


def load_legacy(path: Path):
    with open(path, "rb") as f:
        def next_pickle(storages=None):
            return RestrictedUnpickler(f, path, storages).load()
        try:
            magic = next_pickle()
        except (pickle.UnpicklingError, EOFError):
            raise ValueError(f"{path}: neither a zip nor a legacy PyTorch checkpoint") from None
        if magic != LEGACY_MAGIC:
            raise ValueError(f"{path}: not a PyTorch checkpoint (wrong magic number)")
        if next_pickle() != LEGACY_PROTOCOL:
            raise ValueError(f"{path}: unsupported legacy PyTorch protocol version")
        sys_info = next_pickle()
        byteorder = "little" if sys_info.get("little_endian", True) else "big"
        storages = {}
        obj = next_pickle(storages)
        arrays = {}
        for key in next_pickle():                 # storages follow in this order
            storage_type, numel = storages[str(key)]
            count = int.from_bytes(f.read(8), byteorder, signed=True)
            raw = f.read(count * storage_type.dtype.itemsize)
            if count != numel or len(raw) != numel * storage_type.dtype.itemsize:
                raise ValueError(f"{path}: storage {key} is truncated or inconsistent")
            arrays[str(key)] = storage_array(raw, storage_type, byteorder)
    return resolve(obj, arrays, path)


def load_torch_checkpoint(path) -> "OrderedDict":
    """The object a PyTorch checkpoint holds, tensors as numpy arrays (no torch needed)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        if zipfile.is_zipfile(path):
            return load_zip(path)
        return load_legacy(path)
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, KeyError, TypeError) as e:
        raise ValueError(f"{path}: corrupt PyTorch checkpoint ({type(e).__name__}: {e})") \
            from None


def load_state_dict(path) -> "OrderedDict[str, np.ndarray]":
    """A checkpoint that holds a state_dict: name -> numpy array (checked)."""
    obj = load_torch_checkpoint(path)
    if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise ValueError(f"{path}: expected a state_dict (a dict of tensors), got "
                         f"{type(obj).__name__}")
    return obj
