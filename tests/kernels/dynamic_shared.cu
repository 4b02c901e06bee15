// Test kernel: reverse each block's chunk of x through dynamic shared memory
// (shared_mem = blockDim.x * sizeof(T) at launch).
#include "common.cuh"

template <typename T>
__device__ void reverse_chunks(const T* __restrict__ x, T* __restrict__ y) {
    P2P_DYNAMIC_SHARED(T, chunk);
    const int t = threadIdx.x, base = blockIdx.x * blockDim.x;
    chunk[t] = x[base + t];
    __syncthreads();
    y[base + t] = chunk[blockDim.x - 1 - t];
}

extern "C" __global__ void reverse_chunks_f32(const float* __restrict__ x, float* __restrict__ y) {
    reverse_chunks(x, y);
}
extern "C" __global__ void reverse_chunks_f64(const double* __restrict__ x, double* __restrict__ y) {
    reverse_chunks(x, y);
}

// A static array next to the dynamic one: 16 KiB static counts against the 48 KiB limit.
extern "C" __global__ void static_and_dynamic(float* __restrict__ y) {
    __shared__ float big[4096];
    P2P_DYNAMIC_SHARED(float, extra);
    big[threadIdx.x] = 1.0f;
    extra[threadIdx.x] = 2.0f;
    __syncthreads();
    y[threadIdx.x] = big[threadIdx.x] + extra[threadIdx.x];
}
