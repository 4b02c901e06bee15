// conv_one_out.cu: a 4x4 convolution with ONE output channel, without a column matrix
// (PatchGAN's last layer; p2p_cupy/ops/conv_kernels.py). Through im2col it would write,
// and the GEMMs read back, C*16 column entries per output pixel for 2 FLOPs each; here
// every kernel reads x (or writes dx) once from memory, with the 4x4 window's reuse
// served by the caches.
//
//   conv_one_out_fwd   y[n, 0, i, j] = b + sum_{c,u,v} w[c,u,v] x_pad[n, c, i s + u, j s + v]
//                      block (32, 8): 32 output pixels of a row along x, the channels split
//                      8 ways along y; the 8 partial sums meet in shared memory, in order.
//   conv_one_out_dx    dx[n, c, r, q] = sum over the taps (u, v) reaching (r, q) of
//                      w[c, u, v] dy[n, 0, i, j]: a gather, one thread per x element, the
//                      taps walked as in conv.cu's col2im (one division per thread).
//   conv_one_out_dw    dw[c, u, v] = sum_{n,i,j} dy[n,0,i,j] x_pad[n, c, i s + u, j s + v]
//                      in two kernels, deterministic without atomics: grid (slices,
//                      channels), each block of 256 threads sums its slice of the (n, i)
//                      rows into 16 partial sums (double); conv_one_out_dw_sum adds the
//                      slices in order.
// Stride and padding are arguments; the kernel size is the constant KSIZE = 4.
#include "common.cuh"

constexpr int KSIZE = 4;  // the kernel size
constexpr int ROWS = 8;   // blockDim.y of the forward and of the partial dw sums

// f(tap, x value) for each tap u * KSIZE + v of the 4x4 window whose top-left corner is
// (r0, q0) in the padded plane, skipping the padding.
template <typename T, typename F>
__device__ __forceinline__ void window_taps(const T* __restrict__ plane, int r0, int q0, int h, int wd, F f) {
#pragma unroll
    for (int u = 0; u < KSIZE; ++u) {
        const int r = r0 + u;
        if (r < 0 || r >= h) continue;
#pragma unroll
        for (int v = 0; v < KSIZE; ++v) {
            const int q = q0 + v;
            if (q >= 0 && q < wd) f(u * KSIZE + v, (double)plane[r * wd + q]);
        }
    }
}

template <typename T>
__device__ void conv_one_out_fwd(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b, int has_bias,
                                 T* __restrict__ y, int n, int channels, int h, int wd, int stride, int pad, int ho, int wo) {
    __shared__ double partial[ROWS][32];
    const int j = blockIdx.x * 32 + threadIdx.x, i = blockIdx.y, img = blockIdx.z;
    double sum = 0.0;
    if (j < wo) {
        const int r0 = i * stride - pad, q0 = j * stride - pad;
        for (int c = threadIdx.y; c < channels; c += ROWS) {
            const T* plane = x + ((long long)img * channels + c) * h * wd;
            const T* wc = w + c * KSIZE * KSIZE;
            window_taps(plane, r0, q0, h, wd, [&](int tap, double xv) { sum += (double)wc[tap] * xv; });
        }
    }
    partial[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && j < wo) {
        double total = has_bias ? (double)b[0] : 0.0;
        for (int t = 0; t < ROWS; ++t) total += partial[t][threadIdx.x];
        y[((long long)img * ho + i) * wo + j] = (T)total;
    }
}

template <typename T>
__device__ void conv_one_out_dx(const T* __restrict__ dy, const T* __restrict__ w, T* __restrict__ dx,
                                int n, int channels, int h, int wd, int stride, int pad, int ho, int wo) {
    const int p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= h * wd) return;
    const int r = p / wd, q = p - r * wd;
    const int pr = r + pad, pq = q + pad;
    const int u0 = pr % stride, i0 = pr / stride, v0 = pq % stride, j0 = pq / stride;
    for (int img = blockIdx.z; img < n; img += gridDim.z) {
        const T* dy_img = dy + (long long)img * ho * wo;
        for (int c = blockIdx.y; c < channels; c += gridDim.y) {
            const T* wc = w + c * KSIZE * KSIZE;
            double sum = 0.0;
            for (int u = u0, i = i0; u < KSIZE; u += stride, --i) {
                if (i < 0 || i >= ho) continue;
                for (int v = v0, j = j0; v < KSIZE; v += stride, --j)
                    if (j >= 0 && j < wo) sum += (double)wc[u * KSIZE + v] * (double)dy_img[i * wo + j];
            }
            dx[((long long)img * channels + c) * h * wd + p] = (T)sum;
        }
    }
}

template <typename T>
__device__ void conv_one_out_dw_partial(const T* __restrict__ x, const T* __restrict__ dy, double* __restrict__ partial,
                                        int n, int channels, int h, int wd, int stride, int pad, int ho, int wo) {
    __shared__ double sums[KSIZE * KSIZE][32 * ROWS];       // blockDim = (32, ROWS) = 256
    __shared__ double group_sums[KSIZE * KSIZE][16];
    const int c = blockIdx.y, slice = blockIdx.x, slices = gridDim.x;
    double acc[KSIZE * KSIZE];
#pragma unroll
    for (int t = 0; t < KSIZE * KSIZE; ++t) acc[t] = 0.0;
    for (int row = slice * ROWS + threadIdx.y; row < n * ho; row += slices * ROWS) {
        const int img = row / ho, i = row - img * ho;   // once per row of output pixels
        const T* plane = x + ((long long)img * channels + c) * h * wd;
        const T* dy_row = dy + (long long)row * wo;
        for (int j = threadIdx.x; j < wo; j += 32) {
            const double g = (double)dy_row[j];
            window_taps(plane, i * stride - pad, j * stride - pad, h, wd,
                        [&](int tap, double xv) { acc[tap] += g * xv; });
        }
    }
    // The block's 256 x 16 sums, in two ordered steps through shared memory (two barriers;
    // 16 warp reductions of shuffles would cost the emulator a fiber switch per shuffle):
    // thread t adds tap t % 16 over the 16 threads of group t / 16, then 16 threads add
    // the 16 groups.
    const int tid = threadIdx.y * 32 + threadIdx.x;
#pragma unroll
    for (int t = 0; t < KSIZE * KSIZE; ++t) sums[t][tid] = acc[t];
    __syncthreads();
    const int tap = tid % (KSIZE * KSIZE), group = tid / (KSIZE * KSIZE);
    double s = 0.0;
    for (int r = 0; r < 16; ++r) s += sums[tap][group * 16 + r];
    group_sums[tap][group] = s;
    __syncthreads();
    if (tid < KSIZE * KSIZE) {
        double total = 0.0;
        for (int g = 0; g < 16; ++g) total += group_sums[tid][g];
        partial[((long long)c * slices + slice) * KSIZE * KSIZE + tid] = total;
    }
}

// dw[c*16 + t] = sum over the slices, in order, of partial[c][slice][t]; with `accumulate`
// added to dw instead (a parameter's .grad that already holds a gradient).
template <typename T>
__device__ void conv_one_out_dw_sum(const double* __restrict__ partial, T* __restrict__ dw, int channels, int slices, int accumulate) {
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= channels * KSIZE * KSIZE) return;
    const int c = e / (KSIZE * KSIZE), t = e - c * KSIZE * KSIZE;           // a shift: KSIZE is constant
    const double* p = partial + (long long)c * slices * KSIZE * KSIZE + t;
    double total = 0.0;
    for (int s = 0; s < slices; ++s) total += p[s * KSIZE * KSIZE];
    dw[e] = accumulate ? dw[e] + (T)total : (T)total;
}

extern "C" __global__ void __launch_bounds__(256) conv_one_out_fwd_f32(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b, int has_bias, float* __restrict__ y, int n, int channels, int h, int wd, int stride, int pad, int ho, int wo) { conv_one_out_fwd(x, w, b, has_bias, y, n, channels, h, wd, stride, pad, ho, wo); }
extern "C" __global__ void __launch_bounds__(256) conv_one_out_fwd_f64(const double* __restrict__ x, const double* __restrict__ w, const double* __restrict__ b, int has_bias, double* __restrict__ y, int n, int channels, int h, int wd, int stride, int pad, int ho, int wo) { conv_one_out_fwd(x, w, b, has_bias, y, n, channels, h, wd, stride, pad, ho, wo); }
extern "C" __global__ void conv_one_out_dx_f32(const float* __restrict__ dy, const float* __restrict__ w, float* __restrict__ dx, int n, int channels, int h, int wd, int stride, int pad, int ho, int wo) { conv_one_out_dx(dy, w, dx, n, channels, h, wd, stride, pad, ho, wo); }
extern "C" __global__ void conv_one_out_dx_f64(const double* __restrict__ dy, const double* __restrict__ w, double* __restrict__ dx, int n, int channels, int h, int wd, int stride, int pad, int ho, int wo) { conv_one_out_dx(dy, w, dx, n, channels, h, wd, stride, pad, ho, wo); }
extern "C" __global__ void __launch_bounds__(256) conv_one_out_dw_partial_f32(const float* __restrict__ x, const float* __restrict__ dy, double* __restrict__ partial, int n, int channels, int h, int wd, int stride, int pad, int ho, int wo) { conv_one_out_dw_partial(x, dy, partial, n, channels, h, wd, stride, pad, ho, wo); }
extern "C" __global__ void __launch_bounds__(256) conv_one_out_dw_partial_f64(const double* __restrict__ x, const double* __restrict__ dy, double* __restrict__ partial, int n, int channels, int h, int wd, int stride, int pad, int ho, int wo) { conv_one_out_dw_partial(x, dy, partial, n, channels, h, wd, stride, pad, ho, wo); }
extern "C" __global__ void conv_one_out_dw_sum_f32(const double* __restrict__ partial, float* __restrict__ dw, int channels, int slices, int accumulate) { conv_one_out_dw_sum(partial, dw, channels, slices, accumulate); }
extern "C" __global__ void conv_one_out_dw_sum_f64(const double* __restrict__ partial, double* __restrict__ dw, int channels, int slices, int accumulate) { conv_one_out_dw_sum(partial, dw, channels, slices, accumulate); }
