// losses.cu: BCE with logits, MSE, L1 and softmax cross-entropy with mean reduction
// (p2p_cupy/ops/losses.py).
//
// Forward: ONE block (1-D, blockDim a multiple of 32) walks all n elements with a block
// stride, each thread summing in double, then block_sum2 and thread 0 writes loss[0] =
// sum / n: the value stays on the device (no host round trip) and the fixed reduction
// order makes it deterministic. One block is enough here: pix2pix's losses see one image
// or one PatchGAN map per step (10^4-10^5 elements), a tiny fraction of the step.
// The forward also writes what the backward needs (MSE: diff = p - t; L1: sign(p - t)).
// The target is an array (t_stride 1) or a scalar label passed as a 1-element array (t_stride 0).
// Backward, grid-stride elementwise, scale = 1/n (2/n for MSE):
//   bce  dx = (sigmoid(x) - t) scale      mse  dp = diff scale      l1  dp = sign scale
// Softmax cross-entropy over classes: logits (N, C, H, W), class indices t (N, H, W) as int.
// Forward: the one block walks the P = N*H*W pixels; each thread takes a pixel's C logits
// (stride H*W apart), subtracts their max (no overflow), writes the softmax as the cache
// and sums log(sum exp) - x_t. Backward, per element: dx = (softmax - [c == t]) / P.
#include "common.cuh"
#include "block_reduce.cuh"

__device__ inline float exp_t(float x) { return expf(x); }
__device__ inline double exp_t(double x) { return exp(x); }

template <typename T>
__device__ void bce_with_logits_fwd(const T* __restrict__ x, const T* __restrict__ t, int t_stride, T* __restrict__ loss, long long n) {
    double sum = 0.0, unused = 0.0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        const double xi = (double)x[i];
        const double ax = xi < 0.0 ? -xi : xi;
        sum += (xi > 0.0 ? xi : 0.0) - xi * (double)t[i * t_stride] + log1p(exp(-ax));
    }
    block_sum2(sum, unused);
    if (threadIdx.x == 0) loss[0] = (T)(sum / n);
}
template <typename T>
__device__ void bce_with_logits_bwd(const T* __restrict__ x, const T* __restrict__ t, int t_stride, T* __restrict__ dx, long long n, T scale) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        const T e = exp_t(-(x[i] < T(0) ? -x[i] : x[i]));
        const T s = (x[i] >= T(0) ? T(1) : e) / (T(1) + e);
        dx[i] = (s - t[i * t_stride]) * scale;
    }
}
template <typename T>
__device__ void mse_fwd(const T* __restrict__ p, const T* __restrict__ t, int t_stride, T* __restrict__ diff, T* __restrict__ loss, long long n) {
    double sum = 0.0, unused = 0.0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        const T d = p[i] - t[i * t_stride];
        diff[i] = d;
        sum += (double)d * (double)d;
    }
    block_sum2(sum, unused);
    if (threadIdx.x == 0) loss[0] = (T)(sum / n);
}
template <typename T>
__device__ void l1_fwd(const T* __restrict__ p, const T* __restrict__ t, int t_stride, T* __restrict__ sign, T* __restrict__ loss, long long n) {
    double sum = 0.0, unused = 0.0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        const T d = p[i] - t[i * t_stride];
        sign[i] = d > T(0) ? T(1) : (d < T(0) ? T(-1) : T(0));
        sum += d < T(0) ? -(double)d : (double)d;
    }
    block_sum2(sum, unused);
    if (threadIdx.x == 0) loss[0] = (T)(sum / n);
}
template <typename T>
__device__ void softmax_cross_entropy_fwd(const T* __restrict__ x, const int* __restrict__ t, T* __restrict__ prob, T* __restrict__ loss, long long pixels, int classes, long long hw) {
    double sum = 0.0, unused = 0.0;
    for (long long p = threadIdx.x; p < pixels; p += blockDim.x) {
        const long long base = (p / hw) * classes * hw + p % hw;   // logit of class 0
        T m = x[base];
        for (int c = 1; c < classes; ++c) m = x[base + c * hw] > m ? x[base + c * hw] : m;
        T total = T(0);
        for (int c = 0; c < classes; ++c) {
            const T e = exp_t(x[base + c * hw] - m);
            prob[base + c * hw] = e;
            total += e;
        }
        for (int c = 0; c < classes; ++c) prob[base + c * hw] /= total;
        sum += log((double)total) + (double)m - (double)x[base + (long long)t[p] * hw];
    }
    block_sum2(sum, unused);
    if (threadIdx.x == 0) loss[0] = (T)(sum / pixels);
}
template <typename T>
__device__ void softmax_cross_entropy_bwd(const T* __restrict__ prob, const int* __restrict__ t, T* __restrict__ dx, long long n, int classes, long long hw, T scale) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        const long long c = (i / hw) % classes;
        const long long pixel = (i / (hw * classes)) * hw + i % hw;
        dx[i] = (prob[i] - (t[pixel] == c ? T(1) : T(0))) * scale;
    }
}
// MSE's and L1's backward alike: the cached diff or sign times a scalar.
template <typename T>
__device__ void scaled_copy(const T* __restrict__ a, T* __restrict__ out, long long n, T scale) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x)
        out[i] = a[i] * scale;
}

extern "C" __global__ void __launch_bounds__(1024) bce_with_logits_fwd_f32(const float* __restrict__ x, const float* __restrict__ t, int t_stride, float* __restrict__ loss, long long n) { bce_with_logits_fwd(x, t, t_stride, loss, n); }
extern "C" __global__ void __launch_bounds__(1024) bce_with_logits_fwd_f64(const double* __restrict__ x, const double* __restrict__ t, int t_stride, double* __restrict__ loss, long long n) { bce_with_logits_fwd(x, t, t_stride, loss, n); }
extern "C" __global__ void bce_with_logits_bwd_f32(const float* __restrict__ x, const float* __restrict__ t, int t_stride, float* __restrict__ dx, long long n, float scale) { bce_with_logits_bwd(x, t, t_stride, dx, n, scale); }
extern "C" __global__ void bce_with_logits_bwd_f64(const double* __restrict__ x, const double* __restrict__ t, int t_stride, double* __restrict__ dx, long long n, double scale) { bce_with_logits_bwd(x, t, t_stride, dx, n, scale); }
extern "C" __global__ void __launch_bounds__(1024) mse_fwd_f32(const float* __restrict__ p, const float* __restrict__ t, int t_stride, float* __restrict__ diff, float* __restrict__ loss, long long n) { mse_fwd(p, t, t_stride, diff, loss, n); }
extern "C" __global__ void __launch_bounds__(1024) mse_fwd_f64(const double* __restrict__ p, const double* __restrict__ t, int t_stride, double* __restrict__ diff, double* __restrict__ loss, long long n) { mse_fwd(p, t, t_stride, diff, loss, n); }
extern "C" __global__ void mse_bwd_f32(const float* __restrict__ diff, float* __restrict__ dp, long long n, float scale) { scaled_copy(diff, dp, n, scale); }
extern "C" __global__ void mse_bwd_f64(const double* __restrict__ diff, double* __restrict__ dp, long long n, double scale) { scaled_copy(diff, dp, n, scale); }
extern "C" __global__ void __launch_bounds__(1024) l1_fwd_f32(const float* __restrict__ p, const float* __restrict__ t, int t_stride, float* __restrict__ sign, float* __restrict__ loss, long long n) { l1_fwd(p, t, t_stride, sign, loss, n); }
extern "C" __global__ void __launch_bounds__(1024) l1_fwd_f64(const double* __restrict__ p, const double* __restrict__ t, int t_stride, double* __restrict__ sign, double* __restrict__ loss, long long n) { l1_fwd(p, t, t_stride, sign, loss, n); }
extern "C" __global__ void l1_bwd_f32(const float* __restrict__ sign, float* __restrict__ dp, long long n, float scale) { scaled_copy(sign, dp, n, scale); }
extern "C" __global__ void l1_bwd_f64(const double* __restrict__ sign, double* __restrict__ dp, long long n, double scale) { scaled_copy(sign, dp, n, scale); }
extern "C" __global__ void __launch_bounds__(1024) softmax_cross_entropy_fwd_f32(const float* __restrict__ x, const int* __restrict__ t, float* __restrict__ prob, float* __restrict__ loss, long long pixels, int classes, long long hw) { softmax_cross_entropy_fwd(x, t, prob, loss, pixels, classes, hw); }
extern "C" __global__ void __launch_bounds__(1024) softmax_cross_entropy_fwd_f64(const double* __restrict__ x, const int* __restrict__ t, double* __restrict__ prob, double* __restrict__ loss, long long pixels, int classes, long long hw) { softmax_cross_entropy_fwd(x, t, prob, loss, pixels, classes, hw); }
extern "C" __global__ void softmax_cross_entropy_bwd_f32(const float* __restrict__ prob, const int* __restrict__ t, float* __restrict__ dx, long long n, int classes, long long hw, float scale) { softmax_cross_entropy_bwd(prob, t, dx, n, classes, hw, scale); }
extern "C" __global__ void softmax_cross_entropy_bwd_f64(const double* __restrict__ prob, const int* __restrict__ t, double* __restrict__ dx, long long n, int classes, long long hw, double scale) { softmax_cross_entropy_bwd(prob, t, dx, n, classes, hw, scale); }
