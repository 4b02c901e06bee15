"""host_memory: with keep_freed_memory, a freed big array's pages serve the next one."""
import resource
import sys

import numpy as np
import pytest

from p2p_cupy.host_memory import keep_freed_memory

SIZE = 64 << 20   # bytes: far above glibc's default mmap threshold (128 KB .. 32 MB)


def _faults_of_filling_a_fresh_array() -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.empty(SIZE // 4, np.float32)
    a.fill(1.0)                     # first touch of every page
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del a
    return faults


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_a_freed_block_is_reused_without_page_faults():
    if not keep_freed_memory():
        pytest.skip("no glibc malloc here")
    assert keep_freed_memory()      # idempotent
    _faults_of_filling_a_fresh_array()            # grows the heap once
    # fresh memory faults at least once per 2 MB even with transparent huge pages (NumPy
    # asks for them): 32 here, ~540 measured without keep_freed_memory; reused memory: 0
    assert _faults_of_filling_a_fresh_array() < SIZE // (2 << 20)
