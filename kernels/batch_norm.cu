// batch_norm.cu: BatchNorm2d training forward, eval forward, backward (p2p_cupy/ops/batch_norm.py).
//
// Layout: x is NCHW; channel c's M = N*H*W values are N runs of HW contiguous elements.
// The training forward and the backward run one block per channel: the block's threads walk
// the channel's runs with consecutive threads on consecutive addresses (coalesced), reduce
// with block_sum2, then make a second sweep writing y or dx. One block owns one channel, so
// the statistics need no second kernel and no atomics, and the result is deterministic.
//   forward:  sums of (x - K) and (x - K)^2 with the shift K = the channel's first value
//             (one pass, no cancellation when |mean| >> std), mean and biased var from them;
//             the running statistics (unbiased var) are updated by thread 0.
//   backward: dbeta = sum dy, dgamma = inv_std sum dy (x - mean), and
//             dx = a dy + b x + c per channel (see the .py file for a, b, c; eval: dx = a dy).
// Eval forward is elementwise: y = x scale[c] + shift[c], per-channel coefficients given.
#include "common.cuh"
#include "block_reduce.cuh"

__device__ inline float rsqrt_t(double v, float) { return (float)(1.0 / sqrt(v)); }
__device__ inline double rsqrt_t(double v, double) { return 1.0 / sqrt(v); }

template <typename T>
__device__ void batch_norm_train_fwd(const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                                     T* __restrict__ y, T* __restrict__ mean_out, T* __restrict__ inv_std_out,
                                     T* __restrict__ running_mean, T* __restrict__ running_var,
                                     int n, int channels, int hw, double momentum, double eps) {
    const int c = blockIdx.x;
    const long long m = (long long)n * hw;
    const T* xc = x + (long long)c * hw;
    const double shift = (double)xc[0];
    double s1 = 0.0, s2 = 0.0;
    for (long long j = threadIdx.x; j < m; j += blockDim.x) {
        const double d = (double)xc[(j / hw) * channels * hw + j % hw] - shift;
        s1 += d;
        s2 += d * d;
    }
    block_sum2(s1, s2);
    const double mean_shifted = s1 / m;
    double var = s2 / m - mean_shifted * mean_shifted;
    var = var > 0.0 ? var : 0.0;
    const double mean = shift + mean_shifted;
    const T inv_std = rsqrt_t(var + eps, T(0));
    if (threadIdx.x == 0) {
        mean_out[c] = (T)mean;
        inv_std_out[c] = inv_std;
        running_mean[c] = (T)((1.0 - momentum) * (double)running_mean[c] + momentum * mean);
        const double unbiased = m > 1 ? var * m / (m - 1) : var;
        running_var[c] = (T)((1.0 - momentum) * (double)running_var[c] + momentum * unbiased);
    }
    const T scale = inv_std * gamma[c], mean_t = (T)mean;
    T* yc = y + (long long)c * hw;
    for (long long j = threadIdx.x; j < m; j += blockDim.x) {
        const long long k = (j / hw) * channels * hw + j % hw;
        yc[k] = (xc[k] - mean_t) * scale + beta[c];
    }
}

template <typename T>
__device__ void batch_norm_eval_fwd(const T* __restrict__ x, const T* __restrict__ scale, const T* __restrict__ shift,
                                    T* __restrict__ y, long long total, int channels, int hw) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const int c = (int)((i / hw) % channels);
        y[i] = x[i] * scale[c] + shift[c];
    }
}

template <typename T>
__device__ void batch_norm_bwd(const T* __restrict__ x, const T* __restrict__ dy, const T* __restrict__ mean,
                               const T* __restrict__ inv_std, const T* __restrict__ gamma,
                               T* __restrict__ dx, T* __restrict__ dgamma, T* __restrict__ dbeta,
                               int n, int channels, int hw, int training) {
    const int c = blockIdx.x;
    const long long m = (long long)n * hw;
    const long long base = (long long)c * hw;
    const double mu = (double)mean[c];
    double sum_dy = 0.0, sum_dy_xc = 0.0;
    for (long long j = threadIdx.x; j < m; j += blockDim.x) {
        const long long k = base + (j / hw) * channels * hw + j % hw;
        const double g = (double)dy[k];
        sum_dy += g;
        sum_dy_xc += g * ((double)x[k] - mu);
    }
    block_sum2(sum_dy, sum_dy_xc);
    const double istd = (double)inv_std[c];
    const double dg = istd * sum_dy_xc;
    if (threadIdx.x == 0) {
        dbeta[c] = (T)sum_dy;
        dgamma[c] = (T)dg;
    }
    // dx = a dy + b x + c0, a = gamma inv_std, b = -a inv_std dgamma / M, c0 = -a dbeta / M - b mean
    const double a = (double)gamma[c] * istd;
    const double b = training ? -a * istd * dg / m : 0.0;
    const double c0 = training ? -a * sum_dy / m - b * mu : 0.0;
    const T a_t = (T)a, b_t = (T)b, c_t = (T)c0;
    for (long long j = threadIdx.x; j < m; j += blockDim.x) {
        const long long k = base + (j / hw) * channels * hw + j % hw;
        dx[k] = a_t * dy[k] + b_t * x[k] + c_t;
    }
}

extern "C" __global__ void __launch_bounds__(1024) batch_norm_train_fwd_f32(const float* __restrict__ x, const float* __restrict__ gamma, const float* __restrict__ beta, float* __restrict__ y, float* __restrict__ mean_out, float* __restrict__ inv_std_out, float* __restrict__ running_mean, float* __restrict__ running_var, int n, int channels, int hw, double momentum, double eps) { batch_norm_train_fwd(x, gamma, beta, y, mean_out, inv_std_out, running_mean, running_var, n, channels, hw, momentum, eps); }
extern "C" __global__ void __launch_bounds__(1024) batch_norm_train_fwd_f64(const double* __restrict__ x, const double* __restrict__ gamma, const double* __restrict__ beta, double* __restrict__ y, double* __restrict__ mean_out, double* __restrict__ inv_std_out, double* __restrict__ running_mean, double* __restrict__ running_var, int n, int channels, int hw, double momentum, double eps) { batch_norm_train_fwd(x, gamma, beta, y, mean_out, inv_std_out, running_mean, running_var, n, channels, hw, momentum, eps); }
extern "C" __global__ void batch_norm_eval_fwd_f32(const float* __restrict__ x, const float* __restrict__ scale, const float* __restrict__ shift, float* __restrict__ y, long long total, int channels, int hw) { batch_norm_eval_fwd(x, scale, shift, y, total, channels, hw); }
extern "C" __global__ void batch_norm_eval_fwd_f64(const double* __restrict__ x, const double* __restrict__ scale, const double* __restrict__ shift, double* __restrict__ y, long long total, int channels, int hw) { batch_norm_eval_fwd(x, scale, shift, y, total, channels, hw); }
extern "C" __global__ void __launch_bounds__(1024) batch_norm_bwd_f32(const float* __restrict__ x, const float* __restrict__ dy, const float* __restrict__ mean, const float* __restrict__ inv_std, const float* __restrict__ gamma, float* __restrict__ dx, float* __restrict__ dgamma, float* __restrict__ dbeta, int n, int channels, int hw, int training) { batch_norm_bwd(x, dy, mean, inv_std, gamma, dx, dgamma, dbeta, n, channels, hw, training); }
extern "C" __global__ void __launch_bounds__(1024) batch_norm_bwd_f64(const double* __restrict__ x, const double* __restrict__ dy, const double* __restrict__ mean, const double* __restrict__ inv_std, const double* __restrict__ gamma, double* __restrict__ dx, double* __restrict__ dgamma, double* __restrict__ dbeta, int n, int channels, int hw, int training) { batch_norm_bwd(x, dy, mean, inv_std, gamma, dx, dgamma, dbeta, n, channels, hw, training); }
