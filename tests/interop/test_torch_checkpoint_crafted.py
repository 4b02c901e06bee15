"""Crafted .pth files: each one crashed, hung or tracebacked the reader before (negative
strides read heap bytes or segfaulted, stride-0 views allocated gigabytes, deep or shared
pickle structures recursed, damaged zips raised zlib.error...). Now each ends in one
TorchCheckpointError line naming the file, before anything large is allocated."""
import pickle
import struct
import time
import zipfile

import numpy as np
import pytest
from pth_files import (LEGACY_MAGIC, _global, _int, _str, example_state, tensors_pickle,
                       write_legacy, write_storages_zip, write_zip)

from p2p_cupy.errors import P2PError
from p2p_cupy.interop.torch_checkpoint import (TorchCheckpointError, load_state_dict,
                                               load_torch_checkpoint)
from p2p_cupy.limits import LimitExceeded

SIX = np.arange(6, dtype=np.float32)        # one storage "0" of 6 float32 elements


def _one_tensor(tmp_path, offset, size, stride, numel=6, raw=SIX.tobytes()):
    data = tensors_pickle({"w": ("0", "FloatStorage", numel, offset, size, stride)})
    return write_storages_zip(tmp_path / "crafted.pth", data, {"0": raw})


@pytest.mark.parametrize("offset, size, stride, problem", [
    (2, (3,), (-1,), "negative stride"),
    (0, (2,), (-1000,), "negative stride"),
    (5, (2, 3), (-3, -1), "negative stride"),
    (0, (1 << 30,), (0,), "reads 1,073,741,824 elements from a storage of 6"),
    (0, (65536, 65536), (0, 0), "overlapping strides"),
    (0, (3, 3), (1, 1), "overlapping strides"),
    (6, (1,), (1,), r"reaches elements 6\.\.6 of a storage of 6"),
    (0, (7,), (1,), "reaches elements 0..6"),
    (0, (2,), (2 ** 62,), "reaches elements"),
    (0, (2,), (2 ** 64 + 1,), "reaches elements"),           # wraps to 1 in int64
    (2 ** 63, (1,), (1,), "reaches elements"),
    (2 ** 64 - 1, (1,), (1,), "reaches elements"),             # -1 as uint64
    (-1, (1,), (1,), "negative offset or size"),
    (0, (-1,), (1,), "negative offset or size"),
    (0, (2, 3), (1,), "malformed offset, size or stride"),
    (0, (1,) * 40, (1,) * 40, "malformed offset, size or stride"),
    (0, (0, 2 ** 62), (1, 1), "corrupt PyTorch checkpoint"),  # empty, but too big for numpy
])
def test_tensors_reaching_outside_their_storage_are_refused(tmp_path, offset, size, stride,
                                                             problem):
    path = _one_tensor(tmp_path, offset, size, stride)
    with pytest.raises(TorchCheckpointError, match=problem) as info:
        load_state_dict(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_odd_but_legal_views_load_exactly(tmp_path):
    # a size-1 dimension is never stepped along: any stride is legal there
    assert load_state_dict(_one_tensor(tmp_path, 2, (1, 3), (2 ** 70, 1)))["w"].tolist() == \
        [[2.0, 3.0, 4.0]]
    # stride 0 that reads no more elements than the storage holds (an expand() of 3)
    assert load_state_dict(_one_tensor(tmp_path, 4, (3,), (0,)))["w"].tolist() == [4.0] * 3
    assert load_state_dict(_one_tensor(tmp_path, 0, (0, 5), (5, 1)))["w"].shape == (0, 5)
    np.testing.assert_array_equal(load_state_dict(_one_tensor(tmp_path, 1, (2, 2), (1, 3)))["w"],
                                  [[1, 4], [2, 5]])


def test_non_integer_sizes_and_strides_are_refused(tmp_path):
    pickled = tensors_pickle({"w": ("0", "FloatStorage", 6, 0, (3,), (1,))})
    for good, bad in [(_int(3) + b"t", b"G" + struct.pack(">d", 3.0) + b"t"),
                      (_int(0) + b"(", _str("0") + b"(")]:
        data = pickled.replace(good, bad, 1)
        assert data != pickled
        with pytest.raises(TorchCheckpointError):
            load_state_dict(write_storages_zip(tmp_path / "t.pth", data, {"0": SIX.tobytes()}))


@pytest.mark.parametrize("numel, raw, problem", [
    (6, SIX.tobytes()[:-1], "holds 23 bytes, the pickle declares 6 elements"),
    (7, SIX.tobytes(), "holds 24 bytes, the pickle declares 7 elements"),
    (2 ** 62, SIX.tobytes(), "declares 4611686018427387904 elements"),
])
def test_storages_must_have_the_declared_size(tmp_path, numel, raw, problem):
    with pytest.raises(TorchCheckpointError, match=problem):
        load_state_dict(_one_tensor(tmp_path, 0, (1,), (1,), numel=numel, raw=raw))


def test_a_storage_declared_twice_or_missing_is_refused(tmp_path):
    data = tensors_pickle({"a": ("0", "FloatStorage", 6, 0, (6,), (1,)),
                           "b": ("0", "FloatStorage", 3, 0, (3,), (1,))})
    with pytest.raises(TorchCheckpointError, match="storage 0 is declared twice"):
        load_state_dict(write_storages_zip(tmp_path / "t.pth", data, {"0": SIX.tobytes()}))
    data = tensors_pickle({"a": ("1", "FloatStorage", 6, 0, (6,), (1,))})
    with pytest.raises(TorchCheckpointError, match="storage data/1 is missing"):
        load_state_dict(write_storages_zip(tmp_path / "t.pth", data, {"0": SIX.tobytes()}))


def _pickle_file(tmp_path, body):
    return write_storages_zip(tmp_path / "p.pth", b"\x80\x02" + body + b".", {})


PICKLES = {
    "deep lists": (b"(" * 5000 + b"]" + b"l" * 5000, "nested more than 32 deep"),
    "deep dicts": ((b"(" + _str("k")) * 5000 + b"}" + b"d" * 5000, "nested more than 32 deep"),
    "deep tuple as a dict key": (b"}N" + b"\x85" * 1_000_000 + b"Ns",      # segfaulted
                                 "a tuple nested 33 deep"),
    "shared tuple as a dict key": (b"}N" + b"2\x86" * 64 + b"Ns",         # 2^64 to hash
                                   "nested 16 deep with 131,071 el"),
    "shared tuple": (b"N" + b"2\x86" * 30, "nested 16 deep with 131,071 el"),  # 2^30 steps
    "self-containing list": (b"]q\x00h\x00a", "nested more than 32 deep"),
    "int too long": (b"L" + b"9" * 5000 + b"L\n", "corrupt PyTorch checkpoint"),
    "bytes8 past the end": (b"\x8e" + struct.pack("<Q", 2 ** 62) + b"xx", "corrupt PyTorch"),
    "unknown opcode": (b"\xff", "corrupt PyTorch checkpoint"),
    "empty stack": (b"", "corrupt PyTorch checkpoint"),
    "BUILD on a storage type": (_global("torch", "FloatStorage") + b"}" + _str("dtype")
                                + b"Nsb", "corrupt PyTorch checkpoint"),
    "rebuild without arguments": (_global("torch._utils", "_rebuild_tensor_v2") + b")R",
                                  "corrupt PyTorch checkpoint"),
    "OrderedDict of an int": (_global("collections", "OrderedDict") + b"(J\x01\x00\x00\x00tR",
                              "corrupt PyTorch"),
    "storage id of Nones": (b"(" + _str("storage") + b"NNNNtQ",
                            "a storage reference that is not"),
}


@pytest.mark.parametrize("case", PICKLES)
def test_pickles_that_would_crash_hang_or_traceback_are_refused(tmp_path, case):
    body, problem = PICKLES[case]
    started = time.perf_counter()
    with pytest.raises(TorchCheckpointError, match=problem):
        load_torch_checkpoint(_pickle_file(tmp_path, body))
    assert time.perf_counter() - started < 30


def test_a_storage_type_cannot_be_altered_for_later_files(tmp_path):
    body = (_global("torch", "FloatStorage") + b"(N}" + _str("dtype") + _str("x")
            + b"s\x86b")                                   # BUILD with slot state
    with pytest.raises(TorchCheckpointError):
        load_torch_checkpoint(_pickle_file(tmp_path, body))
    write_zip(tmp_path / "ok.pth", example_state())
    assert load_state_dict(tmp_path / "ok.pth")["model.0.weight"].dtype == np.float32


def test_shared_list_structures_are_converted_once(tmp_path):
    # 30 levels of [x, x]: 2^30 leaves if walked as a tree, 30 lists as a graph
    body = b"]" + b"".join(
        b"q" + bytes([i]) + b"(h" + bytes([i]) + b"h" + bytes([i]) + b"l" for i in range(30))
    started = time.perf_counter()
    obj = load_torch_checkpoint(_pickle_file(tmp_path, body))
    assert time.perf_counter() - started < 10
    assert obj[0] is obj[1]


def _flip_zip_field(path, name, offset_in_local_header, value: bytes, central=None):
    """Overwrite bytes of member `name`'s local header (and central record) in place."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name)
    start = info.header_offset + offset_in_local_header
    data[start:start + len(value)] = value
    if central is not None:
        for pos in range(len(data) - 46, -1, -1):
            if data[pos:pos + 4] == b"PK\x01\x02" and \
                    data[pos + 46:pos + 46 + len(name)] == name.encode():
                data[pos + central:pos + central + len(value)] = value
                break
    path.write_bytes(bytes(data))
    return path


def test_damaged_zips_are_one_line_errors(tmp_path):
    state = example_state()
    path = tmp_path / "net.pth"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", tensors_pickle({}) * 20)
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("archive/data.pkl")
    data = bytearray(path.read_bytes())
    data[info.header_offset + 30 + len(info.filename)] = 0x07     # deflate block type 3
    (tmp_path / "deflate.pth").write_bytes(bytes(data))
    with pytest.raises(TorchCheckpointError, match=r"deflate.pth: corrupt .*(zlib\.)?error"):
        load_state_dict(tmp_path / "deflate.pth")
    write_zip(path, state)
    _flip_zip_field(path, "archive/data.pkl", 8, struct.pack("<H", 99), central=10)
    with pytest.raises(TorchCheckpointError, match="NotImplementedError"):
        load_state_dict(path)
    write_zip(path, state)
    _flip_zip_field(path, "archive/data.pkl", 6, struct.pack("<H", 1), central=8)
    with pytest.raises(TorchCheckpointError, match="encrypted"):
        load_state_dict(path)
    write_storages_zip(path, tensors_pickle({}), {}, byteorder=b"middle\xff")
    with pytest.raises(TorchCheckpointError):
        load_state_dict(path)


def test_the_memory_cap_refuses_big_storages_before_reading_them(tmp_path, monkeypatch):
    n = 5_000_000                                  # 20 MB of zeros, a few KB compressed
    data = tensors_pickle({"w": ("0", "FloatStorage", n, 0, (n,), (1,))})
    path = tmp_path / "bomb.pth"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/data/0", bytes(4 * n))
    assert path.stat().st_size < 100_000
    with pytest.raises(LimitExceeded, match=r"bomb.pth: storage data/0 would need "
                                            r"20,000,000 bytes.*P2P_MAX_LOAD_BYTES"):
        load_state_dict(path, max_bytes=10_000_000)
    monkeypatch.setenv("P2P_MAX_LOAD_BYTES", "30M")
    with pytest.raises(LimitExceeded, match="a tensor of size"):   # storage + copy: 40 MB
        load_state_dict(path)
    monkeypatch.setenv("P2P_MAX_LOAD_BYTES", "50M")
    assert load_state_dict(path)["w"].shape == (n,)
    monkeypatch.setenv("P2P_MAX_LOAD_BYTES", "lots")
    with pytest.raises(P2PError, match="P2P_MAX_LOAD_BYTES='lots'"):
        load_state_dict(path)


@pytest.mark.parametrize("headers, problem", [
    ([LEGACY_MAGIC, 1001, [1]], "legacy header is not a dict"),      # AttributeError before
    ([[LEGACY_MAGIC], 1001, {}], "wrong magic number"),
    ([LEGACY_MAGIC, 1002, {}], "unsupported legacy PyTorch protocol"),
    ([LEGACY_MAGIC, {}, {}], "unsupported legacy PyTorch protocol"),
])
def test_odd_legacy_headers_are_refused(tmp_path, headers, problem):
    with pytest.raises(TorchCheckpointError, match=problem):
        load_state_dict(write_legacy(tmp_path / "old.pth", example_state(), headers))


def test_legacy_storage_tables_that_lie_are_refused(tmp_path):
    path = write_legacy(tmp_path / "old.pth", example_state())
    data = path.read_bytes()
    keys = pickle.dumps(["0", "1", "2"], protocol=2)
    count = struct.pack("<q", 48)                  # model.0.weight has 48 elements
    for bad, problem in [(data.replace(keys, pickle.dumps(7, protocol=2)), "not a list"),
                         (data.replace(keys, pickle.dumps(["0", "9"], protocol=2)),
                          "storage '9' is not used"),
                         (data.replace(count, struct.pack("<q", 2 ** 62)), "inconsistent"),
                         (data[:-3], "truncated")]:
        assert bad != data
        path.write_bytes(bad)
        with pytest.raises(TorchCheckpointError, match=problem):
            load_state_dict(path)
