// batch_norm.cu: BatchNorm2d training forward, eval forward, backward (p2p_cupy/ops/batch_norm.py;
// instance norm runs the same kernels on the (1, N*C, H, W) view, ops/instance_norm.py).
//
// Layout: x is NCHW; channel c's M = N*H*W values are N planes of HW contiguous elements.
// Each reduction is two kernels over one 3-D grid, so that even a few channels fill the GPU:
//   grid x = chunks of a plane (chunk_len elements each), y = channels, z = images;
//   a "slice" is one (image, chunk): channel c has slices = N * chunks of them.
//   1. *_partial: each block sums its slice (in double) and writes the slice's partial
//      sums to partial[c][slice][0..1].
//   2. *_apply: each block reduces ALL slices of its channel in the same fixed order (so
//      every block of a channel gets the same statistics, bit for bit), the blocks of
//      slice 0 write the per-channel outputs, and every block writes y (or dx) for its slice.
// No atomics, no fences, no dependence on block order: the emulator checks all of it.
// One slice per channel (batch 1, a plane of one chunk: most of the U-Net's layers at
// batch 1) needs no partial kernel: the host launches only *_apply with `own` = 1, and
// each block sums its slice itself (the same sums, bit for bit, in one launch fewer).
// The redundant reduction in step 2 reads slices x 16 bytes per block, small next to the
// block's own chunk (ops/launch.py's plane_chunks keeps slices modest).
//   forward:  sums of (x - K) and (x - K)^2 with the shift K = the channel's first value
//             (no cancellation when |mean| >> std), mean and biased var from them; the
//             running statistics (unbiased var) are updated by the block of slice 0.
//   backward: dbeta = sum dy, dgamma = inv_std sum dy (x - mean), and
//             dx = a dy + b x + c per channel (see the .py file for a, b, c; eval: dx = a dy).
// Eval forward is elementwise: y = x scale[c] + shift[c], per-channel coefficients given.
// Indices: a plane's elements with 32-bit ints, plane bases with a 64-bit multiply.
#include "common.cuh"
#include "block_reduce.cuh"

__device__ inline float rsqrt_t(double v, float) { return (float)(1.0 / sqrt(v)); }
__device__ inline double rsqrt_t(double v, double) { return 1.0 / sqrt(v); }

// The range [begin, end) of this block's chunk inside a plane of hw elements.
struct Chunk {
    int begin, end;
    __device__ Chunk(int hw, int chunk_len) : begin(blockIdx.x * chunk_len), end(min(hw, begin + chunk_len)) {}
};

// The channel's two sums over all its slices, in slice order, returned to every thread.
__device__ inline void reduce_slices(const double* __restrict__ partial, int c, int slices, double& a, double& b) {
    a = 0.0;
    b = 0.0;
    const double* p = partial + (long long)c * slices * 2;
    for (int s = threadIdx.x; s < slices; s += blockDim.x) {
        a += p[2 * s];
        b += p[2 * s + 1];
    }
    block_sum2(a, b);
}

__device__ inline int slice_index() { return blockIdx.z * gridDim.x + blockIdx.x; }

// The block's sums of a and b, written as this block's slice of channel c.
__device__ inline void write_slice_sums(double* __restrict__ partial, int c, int slices, double a, double b) {
    block_sum2(a, b);
    if (threadIdx.x == 0) {
        double* out = partial + ((long long)c * slices + slice_index()) * 2;
        out[0] = a;
        out[1] = b;
    }
}

// This thread's share of its slice's sums of (x - K) and (x - K)^2, K = x[0, c, 0, 0].
template <typename T>
__device__ inline void stats_of_slice(const T* __restrict__ x, int c, int channels, int hw, const Chunk& chunk,
                                      double& s1, double& s2) {
    const double shift = (double)x[(long long)c * hw];
    const T* plane = x + plane_base(blockIdx.z, channels, c, hw);
    s1 = 0.0;
    s2 = 0.0;
    for (int t = chunk.begin + threadIdx.x; t < chunk.end; t += blockDim.x) {
        const double d = (double)plane[t] - shift;
        s1 += d;
        s2 += d * d;
    }
}

// This thread's share of its slice's sums of dy and dy (x - mean).
template <typename T>
__device__ inline void grad_sums_of_slice(const T* __restrict__ x, const T* __restrict__ dy, double mu, int c,
                                          int channels, int hw, const Chunk& chunk, double& sum_dy, double& sum_dy_xc) {
    const long long base = plane_base(blockIdx.z, channels, c, hw);
    sum_dy = 0.0;
    sum_dy_xc = 0.0;
    for (int t = chunk.begin + threadIdx.x; t < chunk.end; t += blockDim.x) {
        const double g = (double)dy[base + t];
        sum_dy += g;
        sum_dy_xc += g * ((double)x[base + t] - mu);
    }
}

template <typename T>
__device__ void batch_norm_stats_partial(const T* __restrict__ x, double* __restrict__ partial,
                                         int n, int channels, int hw, int chunk_len) {
    const Chunk chunk(hw, chunk_len);
    const int slices = n * gridDim.x;
    for (int c = blockIdx.y; c < channels; c += gridDim.y) {
        double s1, s2;
        stats_of_slice(x, c, channels, hw, chunk, s1, s2);
        write_slice_sums(partial, c, slices, s1, s2);
    }
}

template <typename T>
__device__ void batch_norm_train_apply(const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                                       const double* __restrict__ partial, T* __restrict__ y,
                                       T* __restrict__ mean_out, T* __restrict__ inv_std_out,
                                       T* __restrict__ running_mean, T* __restrict__ running_var,
                                       int n, int channels, int hw, int chunk_len, int own,
                                       double momentum, double eps) {
    const Chunk chunk(hw, chunk_len);
    const int slices = n * gridDim.x;
    const long long m = (long long)n * hw;
    for (int c = blockIdx.y; c < channels; c += gridDim.y) {
        double s1, s2;
        if (own) {   // the channel's only slice: this block's own sums
            stats_of_slice(x, c, channels, hw, chunk, s1, s2);
            block_sum2(s1, s2);
        } else {
            reduce_slices(partial, c, slices, s1, s2);
        }
        const double mean_shifted = s1 / m;
        double var = s2 / m - mean_shifted * mean_shifted;
        var = var > 0.0 ? var : 0.0;
        const double mean = (double)x[(long long)c * hw] + mean_shifted;
        const T inv_std = rsqrt_t(var + eps, T(0));
        if (threadIdx.x == 0 && slice_index() == 0) {
            mean_out[c] = (T)mean;
            inv_std_out[c] = inv_std;
            running_mean[c] = (T)((1.0 - momentum) * (double)running_mean[c] + momentum * mean);
            const double unbiased = m > 1 ? var * m / (m - 1) : var;
            running_var[c] = (T)((1.0 - momentum) * (double)running_var[c] + momentum * unbiased);
        }
        const T scale = inv_std * gamma[c], mean_t = (T)mean, beta_c = beta[c];
        const long long base = plane_base(blockIdx.z, channels, c, hw);
        for (int t = chunk.begin + threadIdx.x; t < chunk.end; t += blockDim.x)
            y[base + t] = (x[base + t] - mean_t) * scale + beta_c;
    }
}

template <typename T>
__device__ void batch_norm_eval_fwd(const T* __restrict__ x, const T* __restrict__ scale, const T* __restrict__ shift,
                                    T* __restrict__ y, int n, int channels, int hw) {
    for (int img = blockIdx.z; img < n; img += gridDim.z)
        for (int c = blockIdx.y; c < channels; c += gridDim.y) {
            const long long base = plane_base(img, channels, c, hw);
            const T a = scale[c], b = shift[c];
            for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < hw; t += gridDim.x * blockDim.x)
                y[base + t] = x[base + t] * a + b;
        }
}

template <typename T>
__device__ void batch_norm_bwd_partial(const T* __restrict__ x, const T* __restrict__ dy, const T* __restrict__ mean,
                                       double* __restrict__ partial, int n, int channels, int hw, int chunk_len) {
    const Chunk chunk(hw, chunk_len);
    const int slices = n * gridDim.x;
    for (int c = blockIdx.y; c < channels; c += gridDim.y) {
        double sum_dy, sum_dy_xc;
        grad_sums_of_slice(x, dy, (double)mean[c], c, channels, hw, chunk, sum_dy, sum_dy_xc);
        write_slice_sums(partial, c, slices, sum_dy, sum_dy_xc);
    }
}

template <typename T>
__device__ void batch_norm_bwd_apply(const T* __restrict__ x, const T* __restrict__ dy, const T* __restrict__ mean,
                                     const T* __restrict__ inv_std, const T* __restrict__ gamma,
                                     const double* __restrict__ partial, T* __restrict__ dx,
                                     T* __restrict__ dgamma, T* __restrict__ dbeta,
                                     int n, int channels, int hw, int chunk_len, int own, int training,
                                     int accumulate) {
    const Chunk chunk(hw, chunk_len);
    const int slices = n * gridDim.x;
    const long long m = (long long)n * hw;
    for (int c = blockIdx.y; c < channels; c += gridDim.y) {
        const double istd = (double)inv_std[c], mu = (double)mean[c];
        double sum_dy, sum_dy_xc;
        if (own) {   // the channel's only slice: this block's own sums
            grad_sums_of_slice(x, dy, mu, c, channels, hw, chunk, sum_dy, sum_dy_xc);
            block_sum2(sum_dy, sum_dy_xc);
        } else {
            reduce_slices(partial, c, slices, sum_dy, sum_dy_xc);
        }
        const double dg = istd * sum_dy_xc;
        if (threadIdx.x == 0 && slice_index() == 0) {
            dbeta[c] = accumulate ? dbeta[c] + (T)sum_dy : (T)sum_dy;   // accumulate: into a .grad
            dgamma[c] = accumulate ? dgamma[c] + (T)dg : (T)dg;
        }
        // dx = a dy + b x + c0, a = gamma inv_std, b = -a inv_std dgamma / M, c0 = -a dbeta / M - b mean
        const double a = (double)gamma[c] * istd;
        const double b = training ? -a * istd * dg / m : 0.0;
        const double c0 = training ? -a * sum_dy / m - b * mu : 0.0;
        const T a_t = (T)a, b_t = (T)b, c_t = (T)c0;
        const long long base = plane_base(blockIdx.z, channels, c, hw);
        for (int t = chunk.begin + threadIdx.x; t < chunk.end; t += blockDim.x)
            dx[base + t] = a_t * dy[base + t] + b_t * x[base + t] + c_t;
    }
}

extern "C" __global__ void __launch_bounds__(256) batch_norm_stats_partial_f32(const float* __restrict__ x, double* __restrict__ partial, int n, int channels, int hw, int chunk_len) { batch_norm_stats_partial(x, partial, n, channels, hw, chunk_len); }
extern "C" __global__ void __launch_bounds__(256) batch_norm_stats_partial_f64(const double* __restrict__ x, double* __restrict__ partial, int n, int channels, int hw, int chunk_len) { batch_norm_stats_partial(x, partial, n, channels, hw, chunk_len); }
extern "C" __global__ void __launch_bounds__(256) batch_norm_train_apply_f32(const float* __restrict__ x, const float* __restrict__ gamma, const float* __restrict__ beta, const double* __restrict__ partial, float* __restrict__ y, float* __restrict__ mean_out, float* __restrict__ inv_std_out, float* __restrict__ running_mean, float* __restrict__ running_var, int n, int channels, int hw, int chunk_len, int own, double momentum, double eps) { batch_norm_train_apply(x, gamma, beta, partial, y, mean_out, inv_std_out, running_mean, running_var, n, channels, hw, chunk_len, own, momentum, eps); }
extern "C" __global__ void __launch_bounds__(256) batch_norm_train_apply_f64(const double* __restrict__ x, const double* __restrict__ gamma, const double* __restrict__ beta, const double* __restrict__ partial, double* __restrict__ y, double* __restrict__ mean_out, double* __restrict__ inv_std_out, double* __restrict__ running_mean, double* __restrict__ running_var, int n, int channels, int hw, int chunk_len, int own, double momentum, double eps) { batch_norm_train_apply(x, gamma, beta, partial, y, mean_out, inv_std_out, running_mean, running_var, n, channels, hw, chunk_len, own, momentum, eps); }
extern "C" __global__ void batch_norm_eval_fwd_f32(const float* __restrict__ x, const float* __restrict__ scale, const float* __restrict__ shift, float* __restrict__ y, int n, int channels, int hw) { batch_norm_eval_fwd(x, scale, shift, y, n, channels, hw); }
extern "C" __global__ void batch_norm_eval_fwd_f64(const double* __restrict__ x, const double* __restrict__ scale, const double* __restrict__ shift, double* __restrict__ y, int n, int channels, int hw) { batch_norm_eval_fwd(x, scale, shift, y, n, channels, hw); }
extern "C" __global__ void __launch_bounds__(256) batch_norm_bwd_partial_f32(const float* __restrict__ x, const float* __restrict__ dy, const float* __restrict__ mean, double* __restrict__ partial, int n, int channels, int hw, int chunk_len) { batch_norm_bwd_partial(x, dy, mean, partial, n, channels, hw, chunk_len); }
extern "C" __global__ void __launch_bounds__(256) batch_norm_bwd_partial_f64(const double* __restrict__ x, const double* __restrict__ dy, const double* __restrict__ mean, double* __restrict__ partial, int n, int channels, int hw, int chunk_len) { batch_norm_bwd_partial(x, dy, mean, partial, n, channels, hw, chunk_len); }
extern "C" __global__ void __launch_bounds__(256) batch_norm_bwd_apply_f32(const float* __restrict__ x, const float* __restrict__ dy, const float* __restrict__ mean, const float* __restrict__ inv_std, const float* __restrict__ gamma, const double* __restrict__ partial, float* __restrict__ dx, float* __restrict__ dgamma, float* __restrict__ dbeta, int n, int channels, int hw, int chunk_len, int own, int training, int accumulate) { batch_norm_bwd_apply(x, dy, mean, inv_std, gamma, partial, dx, dgamma, dbeta, n, channels, hw, chunk_len, own, training, accumulate); }
extern "C" __global__ void __launch_bounds__(256) batch_norm_bwd_apply_f64(const double* __restrict__ x, const double* __restrict__ dy, const double* __restrict__ mean, const double* __restrict__ inv_std, const double* __restrict__ gamma, const double* __restrict__ partial, double* __restrict__ dx, double* __restrict__ dgamma, double* __restrict__ dbeta, int n, int channels, int hw, int chunk_len, int own, int training, int accumulate) { batch_norm_bwd_apply(x, dy, mean, inv_std, gamma, partial, dx, dgamma, dbeta, n, channels, hw, chunk_len, own, training, accumulate); }
