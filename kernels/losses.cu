// losses.cu: BCE with logits, MSE, L1 and softmax cross-entropy with mean reduction
// (p2p_cupy/ops/losses.py).
//
// Forward, deterministic in two kernels (no atomics): <loss>_partial runs a grid of blocks
// over the n elements (grid-stride), each thread summing its terms in double, block_sum2,
// and thread 0 writes the block's sum to partial[blockIdx.x]; loss_total then sums the
// partials in a fixed order in one block and writes loss[0] = sum / n. The value stays on
// the device (no host round trip). The partial kernels also write what the backward needs
// (MSE: diff = p - t; L1: sign(p - t)).
// The target is an array (t_stride 1) or a scalar label passed as a 1-element array (t_stride 0).
// Backward, elementwise.cuh's map1 / map2, scale = 1/n (2/n for MSE):
//   bce  dx = (sigmoid(x) - t) scale      mse  dp = diff scale      l1  dp = sign scale
// Softmax cross-entropy over classes: logits (N, C, H, W), class indices t (N, H, W) as int.
// Its partial kernel walks the P = N*H*W pixels; each thread takes a pixel's C logits
// (stride H*W apart), subtracts their max (no overflow), writes the softmax as the cache
// and sums log(sum exp) - x_t; loss_total divides by P. Backward, per element:
// dx = (softmax - [c == t]) / P.
#include "common.cuh"
#include "block_reduce.cuh"
#include "elementwise.cuh"

__device__ inline float exp_t(float x) { return expf(x); }
__device__ inline double exp_t(double x) { return exp(x); }

// Each block's sum of term(i) over its grid-stride share of [0, n), to partial[blockIdx.x].
template <typename Term>
__device__ void block_partial_sum(long long n, double* __restrict__ partial, Term term) {
    double sum = 0.0, unused = 0.0;
    for (long long i = first_thread(); i < n; i += grid_threads()) sum += term(i);
    block_sum2(sum, unused);
    if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

template <typename T>
__device__ void loss_total(const double* __restrict__ partial, int blocks, T* __restrict__ loss, long long n) {
    double sum = 0.0, unused = 0.0;
    for (int b = threadIdx.x; b < blocks; b += blockDim.x) sum += partial[b];
    block_sum2(sum, unused);
    if (threadIdx.x == 0) loss[0] = (T)(sum / n);
}

template <typename T>
__device__ void bce_with_logits_partial(const T* __restrict__ x, const T* __restrict__ t, int t_stride, double* __restrict__ partial, long long n) {
    block_partial_sum(n, partial, [&](long long i) {
        const double xi = (double)x[i];
        const double ax = xi < 0.0 ? -xi : xi;
        return (xi > 0.0 ? xi : 0.0) - xi * (double)t[i * t_stride] + log1p(exp(-ax));
    });
}
template <typename T>
__device__ void mse_partial(const T* __restrict__ p, const T* __restrict__ t, int t_stride, T* __restrict__ diff, double* __restrict__ partial, long long n) {
    block_partial_sum(n, partial, [&](long long i) {
        const T d = p[i] - t[i * t_stride];
        diff[i] = d;
        return (double)d * (double)d;
    });
}
template <typename T>
__device__ void l1_partial(const T* __restrict__ p, const T* __restrict__ t, int t_stride, T* __restrict__ sign, double* __restrict__ partial, long long n) {
    block_partial_sum(n, partial, [&](long long i) {
        const T d = p[i] - t[i * t_stride];
        sign[i] = d > T(0) ? T(1) : (d < T(0) ? T(-1) : T(0));
        return d < T(0) ? -(double)d : (double)d;
    });
}

template <typename T>
__device__ void softmax_cross_entropy_partial(const T* __restrict__ x, const int* __restrict__ t, T* __restrict__ prob, double* __restrict__ partial, long long pixels, int classes, long long hw) {
    block_partial_sum(pixels, partial, [&](long long p) {
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
        return log((double)total) + (double)m - (double)x[base + (long long)t[p] * hw];
    });
}
template <typename T>
__device__ void softmax_cross_entropy_bwd(const T* __restrict__ prob, const int* __restrict__ t, T* __restrict__ dx, long long n, int classes, long long hw, T scale) {
    for (long long i = first_thread(); i < n; i += grid_threads()) {
        const long long c = (i / hw) % classes;
        const long long pixel = (i / (hw * classes)) * hw + i % hw;
        dx[i] = (prob[i] - (t[pixel] == c ? T(1) : T(0))) * scale;
    }
}

template <typename T> struct Sigmoid {
    __device__ T operator()(T x) const {
        const T e = exp_t(-(x < T(0) ? -x : x));
        return (x >= T(0) ? T(1) : e) / (T(1) + e);
    }
};
template <typename T> struct BceGrad {        // (x, t)
    T scale;
    __device__ T operator()(T x, T t) const { return (Sigmoid<T>{}(x) - t) * scale; }
};
template <typename T> struct BceGradLabel {   // x, with one label t for all
    T scale, t;
    __device__ T operator()(T x) const { return (Sigmoid<T>{}(x) - t) * scale; }
};
template <typename T> struct Scale {
    T scale;
    __device__ T operator()(T a) const { return a * scale; }
};

template <typename T>
__device__ void bce_with_logits_bwd(const T* __restrict__ x, const T* __restrict__ t, int t_stride, T* __restrict__ dx, long long n, T scale) {
    if (t_stride) map2(x, t, dx, n, BceGrad<T>{scale});
    else map1(x, dx, n, BceGradLabel<T>{scale, t[0]});
}

extern "C" __global__ void __launch_bounds__(1024) bce_with_logits_partial_f32(const float* __restrict__ x, const float* __restrict__ t, int t_stride, double* __restrict__ partial, long long n) { bce_with_logits_partial(x, t, t_stride, partial, n); }
extern "C" __global__ void __launch_bounds__(1024) bce_with_logits_partial_f64(const double* __restrict__ x, const double* __restrict__ t, int t_stride, double* __restrict__ partial, long long n) { bce_with_logits_partial(x, t, t_stride, partial, n); }
extern "C" __global__ void __launch_bounds__(1024) mse_partial_f32(const float* __restrict__ p, const float* __restrict__ t, int t_stride, float* __restrict__ diff, double* __restrict__ partial, long long n) { mse_partial(p, t, t_stride, diff, partial, n); }
extern "C" __global__ void __launch_bounds__(1024) mse_partial_f64(const double* __restrict__ p, const double* __restrict__ t, int t_stride, double* __restrict__ diff, double* __restrict__ partial, long long n) { mse_partial(p, t, t_stride, diff, partial, n); }
extern "C" __global__ void __launch_bounds__(1024) l1_partial_f32(const float* __restrict__ p, const float* __restrict__ t, int t_stride, float* __restrict__ sign, double* __restrict__ partial, long long n) { l1_partial(p, t, t_stride, sign, partial, n); }
extern "C" __global__ void __launch_bounds__(1024) l1_partial_f64(const double* __restrict__ p, const double* __restrict__ t, int t_stride, double* __restrict__ sign, double* __restrict__ partial, long long n) { l1_partial(p, t, t_stride, sign, partial, n); }
extern "C" __global__ void __launch_bounds__(1024) loss_total_f32(const double* __restrict__ partial, int blocks, float* __restrict__ loss, long long n) { loss_total(partial, blocks, loss, n); }
extern "C" __global__ void __launch_bounds__(1024) loss_total_f64(const double* __restrict__ partial, int blocks, double* __restrict__ loss, long long n) { loss_total(partial, blocks, loss, n); }
extern "C" __global__ void bce_with_logits_bwd_f32(const float* __restrict__ x, const float* __restrict__ t, int t_stride, float* __restrict__ dx, long long n, float scale) { bce_with_logits_bwd(x, t, t_stride, dx, n, scale); }
extern "C" __global__ void bce_with_logits_bwd_f64(const double* __restrict__ x, const double* __restrict__ t, int t_stride, double* __restrict__ dx, long long n, double scale) { bce_with_logits_bwd(x, t, t_stride, dx, n, scale); }
extern "C" __global__ void mse_bwd_f32(const float* __restrict__ diff, float* __restrict__ dp, long long n, float scale) { map1(diff, dp, n, Scale<float>{scale}); }
extern "C" __global__ void mse_bwd_f64(const double* __restrict__ diff, double* __restrict__ dp, long long n, double scale) { map1(diff, dp, n, Scale<double>{scale}); }
extern "C" __global__ void l1_bwd_f32(const float* __restrict__ sign, float* __restrict__ dp, long long n, float scale) { map1(sign, dp, n, Scale<float>{scale}); }
extern "C" __global__ void l1_bwd_f64(const double* __restrict__ sign, double* __restrict__ dp, long long n, double scale) { map1(sign, dp, n, Scale<double>{scale}); }
extern "C" __global__ void __launch_bounds__(1024) softmax_cross_entropy_partial_f32(const float* __restrict__ x, const int* __restrict__ t, float* __restrict__ prob, double* __restrict__ partial, long long pixels, int classes, long long hw) { softmax_cross_entropy_partial(x, t, prob, partial, pixels, classes, hw); }
extern "C" __global__ void __launch_bounds__(1024) softmax_cross_entropy_partial_f64(const double* __restrict__ x, const int* __restrict__ t, double* __restrict__ prob, double* __restrict__ partial, long long pixels, int classes, long long hw) { softmax_cross_entropy_partial(x, t, prob, partial, pixels, classes, hw); }
extern "C" __global__ void softmax_cross_entropy_bwd_f32(const float* __restrict__ prob, const int* __restrict__ t, float* __restrict__ dx, long long n, int classes, long long hw, float scale) { softmax_cross_entropy_bwd(prob, t, dx, n, classes, hw, scale); }
extern "C" __global__ void softmax_cross_entropy_bwd_f64(const double* __restrict__ prob, const int* __restrict__ t, double* __restrict__ dx, long long n, int classes, long long hw, double scale) { softmax_cross_entropy_bwd(prob, t, dx, n, classes, hw, scale); }
