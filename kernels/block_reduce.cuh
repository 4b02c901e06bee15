// block_reduce.cuh: sums over a whole thread block, shared by the reduction kernels
// (batch_norm.cu, instance_norm.cu, losses.cu, conv.cu's bias gradient).
//
// Two levels: a warp sums its 32 values with shuffles (no shared memory, no barrier), then
// warp 0 sums the per-warp results. The order of additions is fixed by the thread layout,
// never by timing, so results are deterministic run to run (no atomics).
// The kernels using it are declared __launch_bounds__(1024): p2p_cupy/ops/launch.py's
// reduction_block gives big reductions a full 1024-thread block.
// Sums are carried in double whatever the data type: a float32 channel of 10^6 values
// keeps ~1e-7 relative accuracy, and the reductions are a small part of the work.
#pragma once

__device__ inline double warp_sum(double v) {
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffff, v, offset);
    return v;  // complete in lane 0
}

// Block-wide sums of a and b, returned to every thread. blockDim.x must be a multiple of 32
// (at most 1024); every thread of the block must call it (it contains barriers).
__device__ inline void block_sum2(double& a, double& b) {
    __shared__ double warp_a[32];
    __shared__ double warp_b[32];
    __shared__ double total[2];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    a = warp_sum(a);
    b = warp_sum(b);
    if (lane == 0) {
        warp_a[warp] = a;
        warp_b[warp] = b;
    }
    __syncthreads();
    if (warp == 0) {
        const bool has = lane < (int)(blockDim.x / 32);
        a = warp_sum(has ? warp_a[lane] : 0.0);
        b = warp_sum(has ? warp_b[lane] : 0.0);
        if (lane == 0) {
            total[0] = a;
            total[1] = b;
        }
    }
    __syncthreads();
    a = total[0];
    b = total[1];
    __syncthreads();  // everyone has read `total` before a later call overwrites it
}
