"""`p2p inspect kernels`: ptxas resource parsing, nvcc on a test kernel file, and the
launch configurations recorded from the ops."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from p2p_cupy import backend
from p2p_cupy.cli.main import main
from p2p_cupy.inspection import kernels as kinfo
from p2p_cupy.ops.launch import BLOCK, launch_1d

HERE = Path(__file__).parent
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")

PTXAS = """\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'conv_f32' for 'sm_75'
ptxas info    : Function properties for conv_f32
    48 bytes stack frame, 16 bytes spill stores, 24 bytes spill loads
ptxas info    : Used 255 registers, used 1 barriers, 4096 bytes smem, 380 bytes cmem[0]
ptxas info    : Compiling entry function 'old_f64' for 'sm_52'
ptxas info    : Used 10 registers, 64 bytes lmem, 330 bytes cmem[0]
"""


def test_parse_ptxas_reads_every_field():
    conv, old = kinfo.parse_ptxas(PTXAS, "x.cu")
    assert (conv.kernel, conv.arch) == ("conv_f32", "sm_75")
    assert (conv.registers, conv.shared_bytes) == (255, 4096)
    assert (conv.local_bytes, conv.spill_stores, conv.spill_loads) == (48, 16, 24)
    assert (old.kernel, old.registers, old.shared_bytes, old.local_bytes) == ("old_f64", 10, 0, 64)


@needs_nvcc
def test_nvcc_reports_shared_and_local_memory_of_a_test_kernel():
    rows = {r.kernel: r for r in kinfo.nvcc_resources(HERE / "resources_probe.cu", "sm_80")}
    assert set(rows) == {"shared_tile_f32", "local_array_f32"}
    assert rows["shared_tile_f32"].shared_bytes == 256 * 4
    assert rows["shared_tile_f32"].local_bytes == 0
    assert rows["local_array_f32"].local_bytes >= 64 * 4      # the table is indexed at run time
    assert all(0 < r.registers <= 255 and r.arch == "sm_80" for r in rows.values())


@needs_nvcc
def test_cli_lists_the_kernels_of_a_folder_as_json(tmp_path):
    result = CliRunner().invoke(main, ["inspect", "kernels", "--kernels-dir", str(HERE),
                                       "--no-launches", "--json"])
    assert result.exit_code == 0, result.output
    names = {r["kernel"] for r in json.loads(result.output)["resources"]}
    assert names == {"shared_tile_f32", "local_array_f32"}
    (tmp_path / "broken.cu").write_text('extern "C" __global__ void k(float* x) { x[0] = y; }\n')
    result = CliRunner().invoke(main, ["inspect", "kernels", "--kernels-dir", str(tmp_path),
                                       "--no-launches"])
    assert result.exit_code == 1 and "broken.cu: nvcc failed" in result.output


def test_record_launches_notes_grid_block_and_runs_nothing():
    y = np.full(5, 7.0, np.float32)

    def work():
        kernel = backend.current().kernel("activations", "relu_fwd", np.float32)
        launch_1d(kernel, 1000, (y, y, np.int64(1000)))
        launch_1d(kernel, 1000, (y, y, np.int64(1000)))
        launch_1d(kernel, 10, (y, y, np.int64(10)))
    launches = kinfo.record_launches(work)
    big = kinfo.Launch("activations/relu_fwd_f32", (4,), (BLOCK,), 0)
    small = kinfo.Launch("activations/relu_fwd_f32", (1,), (BLOCK,), 0)
    assert launches == {big: 2, small: 1}
    assert big.threads == 4 * BLOCK >= 1000
    assert np.all(y == 7.0) and backend.current().name == "numpy"


def test_cli_lists_the_launches_of_a_training_iteration(tmp_path):
    result = CliRunner().invoke(main, ["inspect", "kernels", "--kernels-dir", str(tmp_path),
                                       "--shape", "1x3x32x32", "--netG", "unet_32", "--ngf", "2",
                                       "--ndf", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["resources"] == []                       # tmp_path holds no .cu file
    expected = kinfo.training_launches((1, 3, 32, 32), "unet_32", "basic", 2, 2)
    got = {(e["kernel"], tuple(e["grid"]), tuple(e["block"]), e["shared_mem"]): e["count"]
           for e in report["launches"]}
    assert got == {(k.kernel, k.grid, k.block, k.shared_mem): n for k, n in expected.items()}
    for e in report["launches"]:
        assert e["threads"] == np.prod(e["grid"]) * np.prod(e["block"])


def test_cli_refuses_a_bad_shape():
    result = CliRunner().invoke(main, ["inspect", "kernels", "--shape", "3x256", "--no-launches"])
    assert result.exit_code == 1 and "NxCxHxW" in result.output


def test_cupy_attributes_of_a_test_kernel():
    try:
        backend.get_backend("cuda")
    except backend.BackendUnavailable as e:
        pytest.skip(str(e))
    rows = {r.kernel: r for r in kinfo.cupy_resources(HERE / "resources_probe.cu")}
    assert rows["shared_tile_f32"].shared_bytes == 256 * 4
    assert rows["local_array_f32"].local_bytes >= 64 * 4
    assert rows["shared_tile_f32"].spill_stores is None          # CuPy does not report spills
