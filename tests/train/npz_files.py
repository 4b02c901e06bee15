""".npz checkpoints for the reader's tests: a real one taken apart and put back together
with any change, down to raw .npy headers that lie."""
import io
import json
import zipfile

import numpy as np

from p2p_cupy.train import checkpoint


def npy_bytes(array=None, shape=None, descr=None, data=None, version=(1, 0)):
    """A .npy member: array's header and bytes, or a header declaring shape/descr followed
    by `data` (any bytes)."""
    if array is not None:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.asarray(array), version=version, allow_pickle=True)
        return buf.getvalue()
    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buf, header)
    else:
        np.lib.format.write_array_header_2_0(buf, header)
    return buf.getvalue() + (data or b"")


def take_apart(path):
    """(tree, {key: .npy bytes}) of a checkpoint written by save_checkpoint."""
    with zipfile.ZipFile(path) as z:
        members = {name[:-4]: z.read(name) for name in z.namelist()}
    tree = json.loads(str(np.load(io.BytesIO(members.pop("__tree__")))))
    return tree, members


def put_together(path, tree, members, raw_tree=None, compression=zipfile.ZIP_STORED):
    """Write a checkpoint from a tree (or raw_tree: the __tree__ member's bytes) and
    members (key -> .npy bytes)."""
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("__tree__.npy", raw_tree if raw_tree is not None
                   else npy_bytes(np.array(json.dumps(tree))))
        for key, raw in members.items():
            z.writestr(f"{key}.npy" if not key.endswith("/") else key, raw)
    return path


def used_members(tree, members):
    """The members the tree still refers to (after a test removed parts of it)."""
    used = checkpoint.array_refs(tree)
    return {k: v for k, v in members.items() if k in used}
