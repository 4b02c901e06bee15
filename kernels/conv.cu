// conv.cu: the data rearrangements and bias work around the convolution GEMMs
// (p2p_cupy/ops/conv.py; the GEMMs themselves go to cuBLAS through cupy.matmul).
//
//   im2col_fwd  cols[(c,u,v), (n,i,j)] = x_pad[n, c, i s + u, j s + v]   (C k k, N Ho Wo)
//   im2col_bwd  its adjoint, col2im: x[n,c,h,w] = sum of the column entries read from it
//   bias_fwd    y[n,o,:,:] += b[o] (in place)
//   bias_bwd    db[o] = sum over n, h, w of dy[n,o,h,w]
// Both rearrangements are gathers, one thread per OUTPUT element (grid-stride): im2col's
// consecutive threads write consecutive column entries (coalesced writes, reads strided by
// s); col2im's thread owns one pixel and sums, in a fixed (u, v) order, the taps that reach
// it: (h + p - u) divisible by s with row i = (h + p - u)/s inside [0, Ho), same for w.
// No two threads write one address, so there are no atomics and the sums are deterministic.
// bias_bwd runs one block per channel and reduces with block_sum2 (double sums).
#include "common.cuh"
#include "block_reduce.cuh"

template <typename T>
__device__ void im2col_fwd(const T* __restrict__ x, T* __restrict__ cols, int n, int channels, int h, int w,
                           int k, int stride, int pad, int ho, int wo) {
    const long long pixels = (long long)n * ho * wo;
    const long long total = (long long)channels * k * k * pixels;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const long long row = idx / pixels, col = idx % pixels;
        const int v = (int)(row % k), u = (int)((row / k) % k), c = (int)(row / (k * k));
        const int j = (int)(col % wo), i = (int)((col / wo) % ho), img = (int)(col / ((long long)ho * wo));
        const int r = i * stride + u - pad, q = j * stride + v - pad;
        cols[idx] = (r >= 0 && r < h && q >= 0 && q < w)
                        ? x[(((long long)img * channels + c) * h + r) * w + q] : T(0);
    }
}

template <typename T>
__device__ void im2col_bwd(const T* __restrict__ cols, T* __restrict__ x, int n, int channels, int h, int w,
                           int k, int stride, int pad, int ho, int wo) {
    const long long pixels = (long long)n * ho * wo;
    const long long total = (long long)n * channels * h * w;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const int q = (int)(idx % w), r = (int)((idx / w) % h);
        const int c = (int)((idx / ((long long)w * h)) % channels), img = (int)(idx / ((long long)w * h * channels));
        double sum = 0.0;  // double even for float32: up to k*k terms, cheap, order fixed
        for (int u = 0; u < k; ++u) {
            const int rr = r + pad - u;
            if (rr < 0 || rr % stride != 0 || rr / stride >= ho) continue;
            for (int v = 0; v < k; ++v) {
                const int qq = q + pad - v;
                if (qq < 0 || qq % stride != 0 || qq / stride >= wo) continue;
                const long long row = ((long long)c * k + u) * k + v;
                const long long col = ((long long)img * ho + rr / stride) * wo + qq / stride;
                sum += (double)cols[row * pixels + col];
            }
        }
        x[idx] = (T)sum;
    }
}

template <typename T>
__device__ void bias_fwd(T* __restrict__ y, const T* __restrict__ b, long long total, int channels, int hw) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x)
        y[i] += b[(i / hw) % channels];
}

template <typename T>
__device__ void bias_bwd(const T* __restrict__ dy, T* __restrict__ db, int n, int channels, int hw) {
    const int c = blockIdx.x;
    const long long m = (long long)n * hw;
    double sum = 0.0, unused = 0.0;
    for (long long j = threadIdx.x; j < m; j += blockDim.x)
        sum += (double)dy[((j / hw) * channels + c) * hw + j % hw];
    block_sum2(sum, unused);
    if (threadIdx.x == 0) db[c] = (T)sum;
}

extern "C" __global__ void im2col_fwd_f32(const float* __restrict__ x, float* __restrict__ cols, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { im2col_fwd(x, cols, n, channels, h, w, k, stride, pad, ho, wo); }
extern "C" __global__ void im2col_fwd_f64(const double* __restrict__ x, double* __restrict__ cols, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { im2col_fwd(x, cols, n, channels, h, w, k, stride, pad, ho, wo); }
extern "C" __global__ void im2col_bwd_f32(const float* __restrict__ cols, float* __restrict__ x, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { im2col_bwd(cols, x, n, channels, h, w, k, stride, pad, ho, wo); }
extern "C" __global__ void im2col_bwd_f64(const double* __restrict__ cols, double* __restrict__ x, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { im2col_bwd(cols, x, n, channels, h, w, k, stride, pad, ho, wo); }
extern "C" __global__ void bias_fwd_f32(float* __restrict__ y, const float* __restrict__ b, long long total, int channels, int hw) { bias_fwd(y, b, total, channels, hw); }
extern "C" __global__ void bias_fwd_f64(double* __restrict__ y, const double* __restrict__ b, long long total, int channels, int hw) { bias_fwd(y, b, total, channels, hw); }
extern "C" __global__ void __launch_bounds__(1024) bias_bwd_f32(const float* __restrict__ dy, float* __restrict__ db, int n, int channels, int hw) { bias_bwd(dy, db, n, channels, hw); }
extern "C" __global__ void __launch_bounds__(1024) bias_bwd_f64(const double* __restrict__ dy, double* __restrict__ db, int n, int channels, int hw) { bias_bwd(dy, db, n, channels, hw); }
