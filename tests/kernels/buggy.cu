// Test kernels with the bugs the emulator must report or expose. All are valid CUDA (nvcc
// compiles them); their behaviour on a GPU is undefined or racy.
#include "common.cuh"

// Threads t >= n return before the barrier the others wait at.
extern "C" __global__ void early_exit_before_barrier(const float* __restrict__ x, float* __restrict__ y, int n) {
    __shared__ float s[256];
    const int t = threadIdx.x;
    if (t >= n) return;
    s[t] = x[t];
    __syncthreads();
    y[t] = s[n - 1 - t];
}

// Even and odd threads wait at two different barriers.
extern "C" __global__ void divergent_barriers(float* __restrict__ y) {
    if (threadIdx.x % 2 == 0) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    y[threadIdx.x] = 1.0f;
}

// y[t] = x[t - 1], through shared memory, with the barrier missing (`fixed` adds it back):
// in forward order thread t - 1 has always written s[t - 1] before thread t reads it.
extern "C" __global__ void shift_racy(const float* __restrict__ x, float* __restrict__ y, int fixed) {
    __shared__ float s[1024];
    const int t = threadIdx.x;
    s[t] = x[t];
    if (fixed) __syncthreads();
    y[t] = t > 0 ? s[t - 1] : 0.0f;
}

// Only the first 32 entries of s are written; the rest read poison.
extern "C" __global__ void read_unwritten_shared(float* __restrict__ y) {
    __shared__ float s[64];
    if (threadIdx.x < 32) s[threadIdx.x] = 1.0f;
    __syncthreads();
    y[threadIdx.x] = s[threadIdx.x];
}

// Writes y[0 .. n] inclusive: one element past the end for an array of n.
extern "C" __global__ void off_by_one(float* __restrict__ y, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) y[i] = 1.0f;
}

// A shuffle that only the first half of the warp reaches.
extern "C" __global__ void shuffle_half_warp(float* __restrict__ y) {
    float v = threadIdx.x;
    if (threadIdx.x % 32 < 16) v = __shfl_down_sync(0xffffffff, v, 1);
    y[threadIdx.x] = v;
}

// A shuffle with a partial mask (not supported by the emulator).
extern "C" __global__ void shuffle_partial_mask(float* __restrict__ y) {
    y[threadIdx.x] = __shfl_down_sync(0x0000ffff, (float)threadIdx.x, 1);
}

// Writes y[-1] from thread 0: one element before the start.
extern "C" __global__ void off_by_minus_one(float* __restrict__ y) {
    const int t = threadIdx.x;
    y[t - 1] = 1.0f;
}
