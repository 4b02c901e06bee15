"""PyTorch checkpoint files written opcode by opcode in PyTorch's two formats (no torch
needed), for the reader's tests: valid ones, and crafted ones (any offset, size, stride)."""
import pickle
import struct
import zipfile
from collections import OrderedDict

import numpy as np

from p2p_cupy.interop.torch_checkpoint import LEGACY_MAGIC

STORAGE_NAMES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage",
                 np.dtype(np.float64): "DoubleStorage"}


def _global(module, name):
    return f"c{module}\n{name}\n".encode()


def _str(s):
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(n):
    """BININT for 32-bit values, LONG1 (any size) beyond."""
    if -2 ** 31 <= n < 2 ** 31:
        return b"J" + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def _tuple(values):
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def tensors_pickle(tensors, legacy=False):
    """The pickle torch.save writes for a state_dict (protocol 2): an OrderedDict of
    _rebuild_tensor_v2(persistent storage id, offset, size, stride, ...). tensors: name ->
    (storage key, storage type name, storage numel, offset, size, stride), any values."""
    out = b"\x80\x02" + _global("collections", "OrderedDict") + b")R("
    for name, (key, storage, numel, offset, size, stride) in tensors.items():
        pid = (b"(" + _str("storage") + _global("torch", storage) + _str(key) + _str("cpu")
               + _int(numel) + (b"N" if legacy else b"") + b"t")
        out += (_str(name) + _global("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + b"Q"
                + _int(offset) + _tuple(size) + _tuple(stride) + b"\x89"
                + _global("collections", "OrderedDict") + b")Rt" + b"R")
    return out + b"u."


def state_dict_pickle(state, legacy=False):
    """The pickle of a dict of arrays, each on its own storage (keys "0", "1", ...)."""
    return tensors_pickle({name: (str(key), STORAGE_NAMES[array.dtype], array.size, 0,
                                  array.shape, [s // array.itemsize for s in array.strides])
                           for key, (name, array) in enumerate(state.items())}, legacy)


def write_storages_zip(path, data_pkl, storages, byteorder=b"little"):
    """A zip checkpoint of a given pickle and raw storages (key -> bytes)."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", byteorder)
        for key, raw in storages.items():
            z.writestr(f"archive/data/{key}", raw)
    return path


def write_zip(path, state, data_pkl=None):
    return write_storages_zip(path, data_pkl or state_dict_pickle(state),
                              {str(key): np.ascontiguousarray(array).tobytes()
                               for key, array in enumerate(state.values())})


def write_legacy(path, state, headers=(LEGACY_MAGIC, 1001, {"protocol_version": 1001,
                                                           "little_endian": True})):
    with open(path, "wb") as f:
        for header in headers:
            pickle.dump(header, f, protocol=2)
        f.write(state_dict_pickle(state, legacy=True))
        keys = [str(k) for k in range(len(state))]
        pickle.dump(keys, f, protocol=2)
        for array in state.values():
            f.write(struct.pack("<q", array.size) + np.ascontiguousarray(array).tobytes())
    return path


def example_state():
    rng = np.random.default_rng(0)
    return OrderedDict([("model.0.weight", rng.standard_normal((4, 3, 2, 2), np.float32)),
                        ("model.1.running_var", rng.uniform(size=4)),
                        ("model.1.num_batches_tracked", np.array(7, np.int64))])


