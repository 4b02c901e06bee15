// elementwise.cuh: the loop of the memory-bound elementwise kernels (activations.cu,
// dropout.cu, losses.cu, concat.cu).
//
//   map1(x, y, n, op)      y[i] = op(x[i])          for i < n
//   map2(a, b, y, n, op)   y[i] = op(a[i], b[i])
//
// An HBM-bound kernel needs many bytes in flight per thread; one 4-byte load at a time
// cannot keep an H100's memory system busy. So the threads walk packs of 4 consecutive
// elements (one 16-byte float4 load or store per array when T is float), two packs per
// iteration with all their loads issued before any store, grid-stride over the packs;
// the last n % 4 elements are a scalar tail. Arrays whose addresses are not all 16-byte
// aligned (a view at an odd offset) take the scalar loop for everything: the check is
// uniform across the launch, so no thread diverges. double packs are 4 scalar loads.
// ops/launch.py's launch_1d sizes the grid at PACK_ITEMS elements per thread.
#pragma once

__device__ inline bool aligned16(const void* p) { return ((unsigned long long)p & 15ull) == 0; }

__device__ inline void load4(const float* __restrict__ p, float v[4]) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x;
    v[1] = q.y;
    v[2] = q.z;
    v[3] = q.w;
}
__device__ inline void store4(float* __restrict__ p, const float v[4]) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
}
__device__ inline void load4(const double* __restrict__ p, double v[4]) {
    for (int k = 0; k < 4; ++k) v[k] = p[k];
}
__device__ inline void store4(double* __restrict__ p, const double v[4]) {
    for (int k = 0; k < 4; ++k) p[k] = v[k];
}

// The thread's first index and the number of threads in the grid.
__device__ inline long long first_thread() { return blockIdx.x * (long long)blockDim.x + threadIdx.x; }
__device__ inline long long grid_threads() { return (long long)gridDim.x * blockDim.x; }

template <typename T, typename Op>
__device__ void map1(const T* __restrict__ x, T* __restrict__ y, long long n, Op op) {
    const long long stride = grid_threads();
    long long done = 0;
    if (aligned16(x) && aligned16(y)) {
        const long long packs = n / 4;
        long long g = first_thread();
        for (; g + stride < packs; g += 2 * stride) {
            T a[4], b[4];
            load4(x + 4 * g, a);
            load4(x + 4 * (g + stride), b);
            for (int k = 0; k < 4; ++k) {
                a[k] = op(a[k]);
                b[k] = op(b[k]);
            }
            store4(y + 4 * g, a);
            store4(y + 4 * (g + stride), b);
        }
        if (g < packs) {
            T a[4];
            load4(x + 4 * g, a);
            for (int k = 0; k < 4; ++k) a[k] = op(a[k]);
            store4(y + 4 * g, a);
        }
        done = 4 * packs;
    }
    for (long long i = done + first_thread(); i < n; i += stride) y[i] = op(x[i]);
}

template <typename T, typename Op>
__device__ void map2(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y, long long n, Op op) {
    const long long stride = grid_threads();
    long long done = 0;
    if (aligned16(a) && aligned16(b) && aligned16(y)) {
        const long long packs = n / 4;
        long long g = first_thread();
        for (; g + stride < packs; g += 2 * stride) {
            T a0[4], b0[4], a1[4], b1[4];
            load4(a + 4 * g, a0);
            load4(b + 4 * g, b0);
            load4(a + 4 * (g + stride), a1);
            load4(b + 4 * (g + stride), b1);
            for (int k = 0; k < 4; ++k) {
                a0[k] = op(a0[k], b0[k]);
                a1[k] = op(a1[k], b1[k]);
            }
            store4(y + 4 * g, a0);
            store4(y + 4 * (g + stride), a1);
        }
        if (g < packs) {
            T a0[4], b0[4];
            load4(a + 4 * g, a0);
            load4(b + 4 * g, b0);
            for (int k = 0; k < 4; ++k) a0[k] = op(a0[k], b0[k]);
            store4(y + 4 * g, a0);
        }
        done = 4 * packs;
    }
    for (long long i = done + first_thread(); i < n; i += stride) y[i] = op(a[i], b[i]);
}
