// pad.cu: reflection padding (the ResNet generator's borders, p2p_cupy/ops/pad.py).
//
//   reflect_pad_fwd  y[n,c,r,q] = x[n,c, reflect(r - p, H), reflect(q - p, W)]
//   reflect_pad_bwd  dx[n,c,i,j] = sum of dy over every output pixel that read x[n,c,i,j]
// with reflect(t, S) = -t for t < 0, 2(S - 1) - t for t >= S, else t (needs p <= S - 1).
// Both are gathers, one thread per OUTPUT element (grid-stride), no atomics. In one
// dimension input index i is read by at most three output positions, found by inverting
// reflect: i + p (the copy), p - i (the leading mirror, when 1 <= i <= p) and
// p + 2(S - 1) - i (the trailing mirror, when S - 1 - p <= i <= S - 2). So a pixel's
// gradient sums at most 3 x 3 values of dy, in a fixed order: deterministic.
#include "common.cuh"

__device__ inline int reflect_index(int t, int size) {
    return t < 0 ? -t : (t >= size ? 2 * (size - 1) - t : t);
}

// The output positions (at most 3) that read input index i; returns how many.
__device__ inline int reflect_readers(int i, int size, int pad, int* out) {
    int count = 0;
    out[count++] = i + pad;
    if (i >= 1 && i <= pad) out[count++] = pad - i;
    if (i >= size - 1 - pad && i <= size - 2) out[count++] = pad + 2 * (size - 1) - i;
    return count;
}

template <typename T>
__device__ void reflect_pad_fwd(const T* __restrict__ x, T* __restrict__ y, long long total, int h, int w, int pad) {
    const int ho = h + 2 * pad, wo = w + 2 * pad;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const int q = (int)(idx % wo), r = (int)((idx / wo) % ho);
        const long long plane = idx / ((long long)wo * ho);   // n * C + c
        y[idx] = x[(plane * h + reflect_index(r - pad, h)) * w + reflect_index(q - pad, w)];
    }
}

template <typename T>
__device__ void reflect_pad_bwd(const T* __restrict__ dy, T* __restrict__ dx, long long total, int h, int w, int pad) {
    const int ho = h + 2 * pad, wo = w + 2 * pad;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const int j = (int)(idx % w), i = (int)((idx / w) % h);
        const long long plane = idx / ((long long)w * h);
        int rows[3], cols[3];
        const int n_rows = reflect_readers(i, h, pad, rows), n_cols = reflect_readers(j, w, pad, cols);
        T sum = T(0);
        for (int a = 0; a < n_rows; ++a)
            for (int b = 0; b < n_cols; ++b)
                sum += dy[(plane * ho + rows[a]) * wo + cols[b]];
        dx[idx] = sum;
    }
}

extern "C" __global__ void reflect_pad_fwd_f32(const float* __restrict__ x, float* __restrict__ y, long long total, int h, int w, int pad) { reflect_pad_fwd(x, y, total, h, w, pad); }
extern "C" __global__ void reflect_pad_fwd_f64(const double* __restrict__ x, double* __restrict__ y, long long total, int h, int w, int pad) { reflect_pad_fwd(x, y, total, h, w, pad); }
extern "C" __global__ void reflect_pad_bwd_f32(const float* __restrict__ dy, float* __restrict__ dx, long long total, int h, int w, int pad) { reflect_pad_bwd(dy, dx, total, h, w, pad); }
extern "C" __global__ void reflect_pad_bwd_f64(const double* __restrict__ dy, double* __restrict__ dx, long long total, int h, int w, int pad) { reflect_pad_bwd(dy, dx, total, h, w, pad); }
