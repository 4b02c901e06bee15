// pad.cu: reflection padding (the ResNet generator's borders, p2p_cupy/ops/pad.py).
//
//   reflect_pad_fwd  y[n,c,r,q] = x[n,c, reflect(r - p, H), reflect(q - p, W)]
//   reflect_pad_bwd  dx[n,c,i,j] = sum of dy over every output pixel that read x[n,c,i,j]
// with reflect(t, S) = -t for t < 0, 2(S - 1) - t for t >= S, else t (needs p <= S - 1).
// Both are gathers, one thread per element of what they write (grid-stride), no atomics. In one
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

// Launched on the 3-D plane grid (p2p_cupy/ops/launch.py: plane_grid): x the pixels of one
// output plane, y the channels, z the images, so a thread finds its row and column with one
// 32-bit division by the plane's width and no 64-bit division at all.
template <typename T>
__device__ void reflect_pad_fwd(const T* __restrict__ x, T* __restrict__ y, int n, int channels, int h, int w, int pad) {
    const int ho = h + 2 * pad, wo = w + 2 * pad;
    for (int img = blockIdx.z; img < n; img += gridDim.z)
        for (int c = blockIdx.y; c < channels; c += gridDim.y) {
            const T* x_plane = x + plane_base(img, channels, c, h * w);
            T* y_plane = y + plane_base(img, channels, c, ho * wo);
            for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < ho * wo; t += gridDim.x * blockDim.x) {
                const int r = t / wo, q = t - r * wo;
                y_plane[t] = x_plane[reflect_index(r - pad, h) * w + reflect_index(q - pad, w)];
            }
        }
}

template <typename T>
__device__ void reflect_pad_bwd(const T* __restrict__ dy, T* __restrict__ dx, int n, int channels, int h, int w, int pad) {
    const int ho = h + 2 * pad, wo = w + 2 * pad;
    for (int img = blockIdx.z; img < n; img += gridDim.z)
        for (int c = blockIdx.y; c < channels; c += gridDim.y) {
            const T* dy_plane = dy + plane_base(img, channels, c, ho * wo);
            T* dx_plane = dx + plane_base(img, channels, c, h * w);
            for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < h * w; t += gridDim.x * blockDim.x) {
                const int i = t / w, j = t - i * w;
                int rows[3], cols[3];
                const int n_rows = reflect_readers(i, h, pad, rows), n_cols = reflect_readers(j, w, pad, cols);
                T sum = T(0);
                for (int a = 0; a < n_rows; ++a)
                    for (int b = 0; b < n_cols; ++b)
                        sum += dy_plane[rows[a] * wo + cols[b]];
                dx_plane[t] = sum;
            }
        }
}

extern "C" __global__ void reflect_pad_fwd_f32(const float* __restrict__ x, float* __restrict__ y, int n, int channels, int h, int w, int pad) { reflect_pad_fwd(x, y, n, channels, h, w, pad); }
extern "C" __global__ void reflect_pad_fwd_f64(const double* __restrict__ x, double* __restrict__ y, int n, int channels, int h, int w, int pad) { reflect_pad_fwd(x, y, n, channels, h, w, pad); }
extern "C" __global__ void reflect_pad_bwd_f32(const float* __restrict__ dy, float* __restrict__ dx, int n, int channels, int h, int w, int pad) { reflect_pad_bwd(dy, dx, n, channels, h, w, pad); }
extern "C" __global__ void reflect_pad_bwd_f64(const double* __restrict__ dy, double* __restrict__ dx, int n, int channels, int h, int w, int pad) { reflect_pad_bwd(dy, dx, n, channels, h, w, pad); }
