// conv.cu: the data rearrangements and bias work around the convolution GEMMs
// (p2p_cupy/ops/conv_kernels.py; the GEMMs themselves go to cuBLAS through cupy.matmul).
//
//   im2col_fwd  cols[(c,u,v), (n,i,j)] = x_pad[n, c, i s + u, j s + v]   (C k k, N Ho Wo)
//   im2col_bwd  its adjoint, col2im: x[n,c,h,w] = sum of the column entries read from it
//   bias_fwd    y[n,o,:,:] += b[o] (in place)
//   bias_bwd    db[o] = sum over n, h, w of dy[n,o,h,w] (or db[o] += it: `accumulate`)
//
// Both rearrangements are gathers, one thread per OUTPUT element, so no two threads write
// one address: no atomics, and col2im's sums run in a fixed order (deterministic).
// They are memory-bound, so the index arithmetic must cost nothing next to the loads:
//  * A 3-D grid: x = pixels of one image along the threads, y = (channel, tap row u) for
//    im2col and the channel for col2im, z = the image. A thread splits its pixel into
//    (row, column) once, with one 32-bit division; everything in its loops is adds and
//    multiplies. (Pixels of the whole image along x, rather than one output row, keep the
//    writes coalesced in the 1x1 to 8x8 layers of the U-Net's bottom.)
//  * Kernel size K and stride S are template constants for pix2pix's convs (4x4 stride 2
//    and stride 1): the tap loops unroll, K loads are in flight per thread, and the
//    divisions by K and S are shifts. K = S = 0 is the generic fallback that reads them
//    from the arguments (its per-thread setup divides; its loops do not).
//  * 32-bit indices inside an image plane and a column row; 64-bit only where a plane or
//    row base is formed (a multiply, never a divide). The host checks that
//    N Ho Wo and H W fit in an int (conv_kernels.py).
//  * col2im: padded row R = r + p receives tap u from output row i where R = i s + u, so
//    u = R mod s, R mod s + s, ... with i = R div s, R div s - 1, ...: one division per
//    thread, then a division-free walk. For 4x4 stride 2 one thread owns a 2x2 group of
//    pixels, so each pixel's parity, and with it its 4 taps, is known at compile time.
// Grid-stride loops over y and z let the host cap those dimensions at 65535.
#include "common.cuh"
#include "block_reduce.cuh"

template <typename T, int K, int S>
__device__ void im2col(const T* __restrict__ x, T* __restrict__ cols, int n, int channels, int h, int w,
                       int k_arg, int stride_arg, int pad, int ho, int wo) {
    const int k = K > 0 ? K : k_arg, s = S > 0 ? S : stride_arg;
    const int pixels = ho * wo;
    const int p = blockIdx.x * blockDim.x + threadIdx.x;   // output pixel inside an image
    if (p >= pixels) return;                                // (no barrier in this kernel)
    const int i = p / wo, j = p - i * wo;
    const long long row_length = (long long)n * pixels;     // columns of the whole batch
    for (int img = blockIdx.z; img < n; img += gridDim.z) {
        for (unsigned int cu = blockIdx.y; cu < (unsigned int)(channels * k); cu += gridDim.y) {
            const unsigned int c = cu / k, u = cu - c * k;    // K constant: a shift
            const int r = i * s + (int)u - pad;
            T* out = cols + (long long)cu * k * row_length + img * pixels + p;
            if (r < 0 || r >= h) {
                for (int v = 0; v < k; ++v) out[v * row_length] = T(0);
                continue;
            }
            const T* x_row = x + ((long long)img * channels + c) * h * w + r * w;
            const int q0 = j * s - pad;
#pragma unroll
            for (int v = 0; v < k; ++v) {
                const int q = q0 + v;
                out[v * row_length] = (q >= 0 && q < w) ? x_row[q] : T(0);
            }
        }
    }
}

template <typename T, int K, int S>
__device__ void col2im(const T* __restrict__ cols, T* __restrict__ x, int n, int channels, int h, int w,
                       int k_arg, int stride_arg, int pad, int ho, int wo) {
    const int k = K > 0 ? K : k_arg, s = S > 0 ? S : stride_arg;
    const int p = blockIdx.x * blockDim.x + threadIdx.x;   // pixel of x inside an image
    if (p >= h * w) return;
    const int r = p / w, q = p - r * w;
    const int pr = r + pad, pq = q + pad;                   // padded row and column
    const int u0 = pr % s, i0 = pr / s, v0 = pq % s, j0 = pq / s;
    const int pixels = ho * wo;
    const long long row_length = (long long)n * pixels;
    for (int img = blockIdx.z; img < n; img += gridDim.z) {
        for (int c = blockIdx.y; c < channels; c += gridDim.y) {
            const T* taps = cols + (long long)c * k * k * row_length + img * pixels;
            double sum = 0.0;  // double even for float32: cheap, order fixed (u, then v)
#pragma unroll
            for (int u = u0, i = i0; u < k; u += s, --i) {
                if (i < 0 || i >= ho) continue;
#pragma unroll
                for (int v = v0, j = j0; v < k; v += s, --j) {
                    if (j < 0 || j >= wo) continue;
                    sum += (double)taps[(u * k + v) * row_length + i * wo + j];
                }
            }
            x[((long long)img * channels + c) * h * w + p] = (T)sum;
        }
    }
}

// 4x4 stride 2: padded rows 2I and 2I + 1 (parity a = 0, 1) take tap u = a from output row
// I and u = a + 2 from row I - 1; the same for columns. Thread (I, J) writes the 2x2
// pixels x[2I + a - p, 2J + b - p], summing in col2im's order (u, then v ascending), so
// its results equal the generic kernel's bit for bit.
template <typename T>
__device__ void col2im_k4s2(const T* __restrict__ cols, T* __restrict__ x, int n, int channels, int h, int w,
                            int pad, int ho, int wo) {
    const int groups_w = (w + pad + 1) / 2, groups = (h + pad + 1) / 2 * groups_w;
    const int g = blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= groups) return;
    const int gi = g / groups_w, gj = g - gi * groups_w;
    const int pixels = ho * wo;
    const long long row_length = (long long)n * pixels;
    for (int img = blockIdx.z; img < n; img += gridDim.z) {
        for (int c = blockIdx.y; c < channels; c += gridDim.y) {
            const T* taps = cols + (long long)c * 16 * row_length + img * pixels;
            T* plane = x + ((long long)img * channels + c) * h * w;
#pragma unroll
            for (int a = 0; a < 2; ++a) {
                const int r = 2 * gi + a - pad;
                if (r < 0 || r >= h) continue;
#pragma unroll
                for (int b = 0; b < 2; ++b) {
                    const int q = 2 * gj + b - pad;
                    if (q < 0 || q >= w) continue;
                    double sum = 0.0;
#pragma unroll
                    for (int du = 0; du < 2; ++du) {
                        const int i = gi - du;
                        if (i < 0 || i >= ho) continue;
#pragma unroll
                        for (int dv = 0; dv < 2; ++dv) {
                            const int j = gj - dv;
                            if (j < 0 || j >= wo) continue;
                            sum += (double)taps[((a + 2 * du) * 4 + b + 2 * dv) * row_length + i * wo + j];
                        }
                    }
                    plane[r * w + q] = (T)sum;
                }
            }
        }
    }
}

// y[n, c, :] += b[c]: grid (pixels, channels, images), no division.
template <typename T>
__device__ void bias_fwd(T* __restrict__ y, const T* __restrict__ b, int n, int channels, int hw) {
    for (int img = blockIdx.z; img < n; img += gridDim.z)
        for (int c = blockIdx.y; c < channels; c += gridDim.y) {
            T* plane = y + ((long long)img * channels + c) * hw;
            const T bc = b[c];
            for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < hw; t += gridDim.x * blockDim.x)
                plane[t] += bc;
        }
}

// One block per channel; its threads walk each image's plane (no division), then block_sum2.
template <typename T>
__device__ void bias_bwd(const T* __restrict__ dy, T* __restrict__ db, int n, int channels, int hw, int accumulate) {
    const int c = blockIdx.x;
    double sum = 0.0, unused = 0.0;
    for (int img = 0; img < n; ++img) {
        const T* plane = dy + ((long long)img * channels + c) * hw;
        for (int t = threadIdx.x; t < hw; t += blockDim.x) sum += (double)plane[t];
    }
    block_sum2(sum, unused);
    if (threadIdx.x == 0) db[c] = accumulate ? db[c] + (T)sum : (T)sum;
}

#define CONV_PASS in, out, n, channels, h, w, k, stride, pad, ho, wo
extern "C" __global__ void im2col_fwd_f32(const float* __restrict__ in, float* __restrict__ out, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { im2col<float, 0, 0>(CONV_PASS); }
extern "C" __global__ void im2col_fwd_f64(const double* __restrict__ in, double* __restrict__ out, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { im2col<double, 0, 0>(CONV_PASS); }
extern "C" __global__ void im2col_fwd_k4s2_f32(const float* __restrict__ in, float* __restrict__ out, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { im2col<float, 4, 2>(CONV_PASS); }
extern "C" __global__ void im2col_fwd_k4s2_f64(const double* __restrict__ in, double* __restrict__ out, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { im2col<double, 4, 2>(CONV_PASS); }
extern "C" __global__ void im2col_fwd_k4s1_f32(const float* __restrict__ in, float* __restrict__ out, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { im2col<float, 4, 1>(CONV_PASS); }
extern "C" __global__ void im2col_fwd_k4s1_f64(const double* __restrict__ in, double* __restrict__ out, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { im2col<double, 4, 1>(CONV_PASS); }
extern "C" __global__ void im2col_bwd_f32(const float* __restrict__ in, float* __restrict__ out, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { col2im<float, 0, 0>(CONV_PASS); }
extern "C" __global__ void im2col_bwd_f64(const double* __restrict__ in, double* __restrict__ out, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { col2im<double, 0, 0>(CONV_PASS); }
extern "C" __global__ void im2col_bwd_k4s2_f32(const float* __restrict__ in, float* __restrict__ out, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { col2im_k4s2<float>(in, out, n, channels, h, w, pad, ho, wo); }
extern "C" __global__ void im2col_bwd_k4s2_f64(const double* __restrict__ in, double* __restrict__ out, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { col2im_k4s2<double>(in, out, n, channels, h, w, pad, ho, wo); }
extern "C" __global__ void im2col_bwd_k4s1_f32(const float* __restrict__ in, float* __restrict__ out, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { col2im<float, 4, 1>(CONV_PASS); }
extern "C" __global__ void im2col_bwd_k4s1_f64(const double* __restrict__ in, double* __restrict__ out, int n, int channels, int h, int w, int k, int stride, int pad, int ho, int wo) { col2im<double, 4, 1>(CONV_PASS); }
extern "C" __global__ void bias_fwd_f32(float* __restrict__ y, const float* __restrict__ b, int n, int channels, int hw) { bias_fwd(y, b, n, channels, hw); }
extern "C" __global__ void bias_fwd_f64(double* __restrict__ y, const double* __restrict__ b, int n, int channels, int hw) { bias_fwd(y, b, n, channels, hw); }
extern "C" __global__ void __launch_bounds__(1024) bias_bwd_f32(const float* __restrict__ dy, float* __restrict__ db, int n, int channels, int hw, int accumulate) { bias_bwd(dy, db, n, channels, hw, accumulate); }
extern "C" __global__ void __launch_bounds__(1024) bias_bwd_f64(const double* __restrict__ dy, double* __restrict__ db, int n, int channels, int hw, int accumulate) { bias_bwd(dy, db, n, channels, hw, accumulate); }
