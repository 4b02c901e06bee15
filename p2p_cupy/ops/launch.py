"""Launch configurations shared by the ops' kernel branches. Three shapes:

* 1-D, grid-stride (elementwise kernels, kernels/elementwise.cuh): any grid covers any n,
  so the grid is capped at MAX_BLOCKS (enough blocks to fill a large GPU several times
  over) and every element is still visited exactly once. PACK_ITEMS per thread for the
  packed loops.
* 3-D plane grids (conv, batch norm's apply, bias, concat): x the elements of a plane, y
  the channels, z the images, so no kernel divides a flat index to find them; y and z are
  capped at the hardware's 65535 and the kernels loop over the rest.
* Two-kernel reductions (batch norm): each plane cut into chunks so that the blocks fill
  the GPU (plane_chunks), then an ordered second pass.
"""
from __future__ import annotations

import numpy as np

BLOCK = 256          # threads per block of the elementwise kernels (whole warps)
MAX_BLOCKS = 8192


def reduction_block(m: int):
    """(threads,) for the kernels that give one block to each reduction of m values (the
    bias gradient's channels, the losses' final sum): one thread per value up to 1024 (the
    hardware's limit), in whole warps. Big reductions get 32 warps to keep the memory
    system busy while few blocks run; small ones get few threads, none idle (and the
    emulator runs fewer fibers)."""
    return (min(1024, max(32, -(-m // 32) * 32)),)


PACK_ITEMS = 8       # elements per thread of kernels/elementwise.cuh: two packs of 4


def grid_1d(n: int, items_per_thread: int = 1):
    """(grid, block) for a grid-stride kernel over n elements, items_per_thread each."""
    return (max(1, min(-(-n // (BLOCK * items_per_thread)), MAX_BLOCKS)),), (BLOCK,)


def launch_1d(kernel, n: int, args, items_per_thread: int = 1):
    """Launch `kernel` over n elements with the 1-D configuration above."""
    grid, block = grid_1d(n, items_per_thread)
    kernel(grid, block, args)


def output_for(xp, like, out):
    """The array a kernel writes its output into: `out` when the caller gave one and it is
    contiguous (a planned buffer, e.g. one half of a U-Net concat), else a new one."""
    return out if out is not None and out.flags.c_contiguous else xp.empty_like(like)


def deliver_output(y, out):
    """What an op with an `out` argument returns: y without `out`, else `out` (with y
    copied into it when the op could not write there itself)."""
    if out is None or y is out:
        return y
    from p2p_cupy import backend
    backend.of(out).copy(out, y)
    return out


TARGET_BLOCKS = 1024  # blocks that fill a large GPU (132 SMs x ~8 blocks of 256 threads)
MAX_GRID_YZ = 65535   # the hardware's limit on gridDim.y and gridDim.z
INT_MAX = 2**31 - 1


def cap_yz(count: int) -> int:
    """A grid's y or z dimension for `count` planes or images: the kernels loop over any
    beyond MAX_GRID_YZ (grid-stride)."""
    return max(1, min(count, MAX_GRID_YZ))


def reduction_grid(chunks: int, channels: int, images: int):
    """The grid of batch_norm.cu's two-kernel reductions: x the chunks of a plane, y the
    channels (capped, looped over), z the images, one row of slices each (not capped)."""
    if images > MAX_GRID_YZ:
        raise ValueError(f"batch norm: batch {images} exceeds the kernels' grid limit "
                         f"{MAX_GRID_YZ}")
    return (chunks, cap_yz(channels), images)


def warp_block(items: int):
    """(threads,) for a block over `items` elements: BLOCK, or fewer in whole warps for
    small planes, so few threads idle."""
    return (min(BLOCK, max(32, -(-items // 32) * 32)),)


def plane_grid(items: int, planes: int, images: int):
    """(grid, block) for the kernels with a 3-D grid: x covers `items` (the pixels of one
    plane) along the threads, y the planes (channels, or channel x tap row), z the images.
    y and z are capped at MAX_GRID_YZ; the kernels loop over the rest (grid-stride)."""
    block = warp_block(items)
    return (max(1, -(-items // block[0])), cap_yz(planes), cap_yz(images)), block


MIN_CHUNK = 1024     # elements: a plane is split into chunks no shorter than this


def plane_chunks(n: int, channels: int, hw: int):
    """(chunks, chunk_len): how the two-kernel reductions (batch_norm.cu) cut each of the
    n * channels planes of hw elements, so that n * channels * chunks blocks fill a large
    GPU (TARGET_BLOCKS) while each block keeps MIN_CHUNK elements or more."""
    wanted = -(-TARGET_BLOCKS // (n * channels))
    chunk_len = -(-hw // max(1, min(wanted, -(-hw // MIN_CHUNK))))
    return -(-hw // chunk_len), chunk_len


def check_int32(where: str, **sizes):
    """ValueError unless every size fits the kernels' 32-bit indices."""
    for name, value in sizes.items():
        if value > INT_MAX:
            raise ValueError(f"{where}: {name} = {value} exceeds the kernels' 32-bit index "
                             f"range ({INT_MAX}); use a smaller batch or image")


def n_arg(n: int):
    """A count as the kernels' `long long` parameter."""
    return np.int64(n)
