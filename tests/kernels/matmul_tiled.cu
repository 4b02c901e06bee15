// Test kernel: C = A @ B (row-major, A is M x K, B is K x N) with 16 x 16 tiles of A and B
// staged in static shared memory. A template exported under two extern "C" names.
#include "common.cuh"

#define TILE 16

template <typename T>
__device__ void matmul_tiled(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ c,
                             int m, int n, int k) {
    __shared__ T a_tile[TILE][TILE];
    __shared__ T b_tile[TILE][TILE];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;
    T acc = T(0);
    for (int t0 = 0; t0 < k; t0 += TILE) {
        a_tile[ty][tx] = (row < m && t0 + tx < k) ? a[row * k + t0 + tx] : T(0);
        b_tile[ty][tx] = (t0 + ty < k && col < n) ? b[(t0 + ty) * n + col] : T(0);
        __syncthreads();  // the tiles are complete
        for (int j = 0; j < TILE; ++j) acc += a_tile[ty][j] * b_tile[j][tx];
        __syncthreads();  // everyone is done with the tiles before they are overwritten
    }
    if (row < m && col < n) c[row * n + col] = acc;
}

extern "C" __global__ void __launch_bounds__(256) matmul_tiled_f32(const float* __restrict__ a, const float* __restrict__ b,
                                                                float* __restrict__ c, int m, int n, int k) {
    matmul_tiled(a, b, c, m, n, k);
}
extern "C" __global__ void matmul_tiled_f64(const double* __restrict__ a, const double* __restrict__ b,
                                            double* __restrict__ c, int m, int n, int k) {
    matmul_tiled(a, b, c, m, n, k);
}
