// Test kernels: a block sum with warp shuffles (two levels: within each warp, then the warp
// sums in warp 0), and one kernel that records what every warp intrinsic returns.
#include "common.cuh"

template <typename T>
__device__ T warp_sum(T v) {
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffff, v, offset);
    return v;  // complete in lane 0
}

// out[b] = sum of x[b * blockDim.x ...][:blockDim.x]; blockDim.x a multiple of 32.
template <typename T>
__device__ void block_sum(const T* __restrict__ x, T* __restrict__ out, int n) {
    __shared__ T warp_sums[32];
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    T v = warp_sum(i < n ? x[i] : T(0));
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = warp_sum(lane < (int)(blockDim.x / 32) ? warp_sums[lane] : T(0));
        if (lane == 0) out[blockIdx.x] = v;
    }
}

extern "C" __global__ void __launch_bounds__(1024) block_sum_f32(const float* __restrict__ x, float* __restrict__ out, int n) {
    block_sum(x, out, n);
}
extern "C" __global__ void __launch_bounds__(1024) block_sum_f64(const double* __restrict__ x, double* __restrict__ out, int n) {
    block_sum(x, out, n);
}

// out[q * n_threads + t], for thread t with v = 100 * t: q = 0 shfl(v, 3), 1 shfl_xor(v, 5),
// 2 shfl_down(v, 4), 3 shfl_up(v, 4), 4 shfl_down(v, 1, width 8), 5 ballot(lane % 3 == 0),
// 6 any(lane == 7), 7 all(lane < 32), 8 all(lane < 31).
extern "C" __global__ void warp_intrinsics(int* __restrict__ out) {
    const int t = threadIdx.x, n_threads = blockDim.x, lane = t % 32;
    const int v = 100 * t;
    int r[9];
    r[0] = __shfl_sync(0xffffffff, v, 3);
    r[1] = __shfl_xor_sync(0xffffffff, v, 5);
    r[2] = __shfl_down_sync(0xffffffff, v, 4);
    r[3] = __shfl_up_sync(0xffffffff, v, 4);
    r[4] = __shfl_down_sync(0xffffffff, v, 1, 8);
    __syncwarp();
    r[5] = (int)__ballot_sync(0xffffffff, lane % 3 == 0);
    r[6] = __any_sync(0xffffffff, lane == 7);
    r[7] = __all_sync(0xffffffff, lane < 32);
    r[8] = __all_sync(0xffffffff, lane < 31);
    for (int q = 0; q < 9; ++q) out[q * n_threads + t] = r[q];
}

// out[0] = sum of x[0:32] by warp 0 alone; the other warps return at once (legal: no block
// barrier, and warp 0's shuffles need only warp 0).
extern "C" __global__ void first_warp_sum_f32(const float* __restrict__ x, float* __restrict__ out) {
    if (threadIdx.x >= 32) return;
    const float v = warp_sum(x[threadIdx.x]);
    if (threadIdx.x == 0) out[0] = v;
}
