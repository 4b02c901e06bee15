// activations.cu: leaky ReLU, ReLU, tanh, sigmoid, forward and backward (p2p_cupy/ops/activations.py).
//
// Layout: any contiguous array seen as n flat elements; one thread per element in a
// grid-stride loop, so consecutive threads touch consecutive addresses (coalesced) and any
// grid size covers any n. Backward reads the forward's output y (the op's cache), never x:
//     leaky_relu  dx = y > 0 ? dy : slope dy      relu     dx = y > 0 ? dy : 0
//     tanh        dx = dy (1 - y^2)               sigmoid  dx = dy y (1 - y)
// Purely memory-bound: one read (two in backward) and one write per element.
#include "common.cuh"

__device__ inline float exp_t(float x) { return expf(x); }
__device__ inline double exp_t(double x) { return exp(x); }
__device__ inline float tanh_t(float x) { return tanhf(x); }
__device__ inline double tanh_t(double x) { return tanh(x); }

#define GRID_STRIDE(i, n) \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); \
         i += (long long)gridDim.x * blockDim.x)

template <typename T>
__device__ void leaky_relu_fwd(const T* __restrict__ x, T* __restrict__ y, long long n, T slope) {
    GRID_STRIDE(i, n) y[i] = x[i] > T(0) ? x[i] : slope * x[i];
}
template <typename T>
__device__ void leaky_relu_bwd(const T* __restrict__ dy, const T* __restrict__ y, T* __restrict__ dx, long long n, T slope) {
    GRID_STRIDE(i, n) dx[i] = y[i] > T(0) ? dy[i] : slope * dy[i];
}
template <typename T>
__device__ void relu_fwd(const T* __restrict__ x, T* __restrict__ y, long long n) {
    GRID_STRIDE(i, n) y[i] = x[i] > T(0) ? x[i] : T(0);
}
template <typename T>
__device__ void relu_bwd(const T* __restrict__ dy, const T* __restrict__ y, T* __restrict__ dx, long long n) {
    GRID_STRIDE(i, n) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}
template <typename T>
__device__ void tanh_fwd(const T* __restrict__ x, T* __restrict__ y, long long n) {
    GRID_STRIDE(i, n) y[i] = tanh_t(x[i]);
}
template <typename T>
__device__ void tanh_bwd(const T* __restrict__ dy, const T* __restrict__ y, T* __restrict__ dx, long long n) {
    GRID_STRIDE(i, n) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
}
// Stable for any x: only e^-|x| is computed, which never overflows.
template <typename T>
__device__ void sigmoid_fwd(const T* __restrict__ x, T* __restrict__ y, long long n) {
    GRID_STRIDE(i, n) {
        const T e = exp_t(-(x[i] < T(0) ? -x[i] : x[i]));
        y[i] = (x[i] >= T(0) ? T(1) : e) / (T(1) + e);
    }
}
template <typename T>
__device__ void sigmoid_bwd(const T* __restrict__ dy, const T* __restrict__ y, T* __restrict__ dx, long long n) {
    GRID_STRIDE(i, n) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
}

extern "C" __global__ void leaky_relu_fwd_f32(const float* __restrict__ x, float* __restrict__ y, long long n, float slope) { leaky_relu_fwd(x, y, n, slope); }
extern "C" __global__ void leaky_relu_fwd_f64(const double* __restrict__ x, double* __restrict__ y, long long n, double slope) { leaky_relu_fwd(x, y, n, slope); }
extern "C" __global__ void leaky_relu_bwd_f32(const float* __restrict__ dy, const float* __restrict__ y, float* __restrict__ dx, long long n, float slope) { leaky_relu_bwd(dy, y, dx, n, slope); }
extern "C" __global__ void leaky_relu_bwd_f64(const double* __restrict__ dy, const double* __restrict__ y, double* __restrict__ dx, long long n, double slope) { leaky_relu_bwd(dy, y, dx, n, slope); }
extern "C" __global__ void relu_fwd_f32(const float* __restrict__ x, float* __restrict__ y, long long n) { relu_fwd(x, y, n); }
extern "C" __global__ void relu_fwd_f64(const double* __restrict__ x, double* __restrict__ y, long long n) { relu_fwd(x, y, n); }
extern "C" __global__ void relu_bwd_f32(const float* __restrict__ dy, const float* __restrict__ y, float* __restrict__ dx, long long n) { relu_bwd(dy, y, dx, n); }
extern "C" __global__ void relu_bwd_f64(const double* __restrict__ dy, const double* __restrict__ y, double* __restrict__ dx, long long n) { relu_bwd(dy, y, dx, n); }
extern "C" __global__ void tanh_fwd_f32(const float* __restrict__ x, float* __restrict__ y, long long n) { tanh_fwd(x, y, n); }
extern "C" __global__ void tanh_fwd_f64(const double* __restrict__ x, double* __restrict__ y, long long n) { tanh_fwd(x, y, n); }
extern "C" __global__ void tanh_bwd_f32(const float* __restrict__ dy, const float* __restrict__ y, float* __restrict__ dx, long long n) { tanh_bwd(dy, y, dx, n); }
extern "C" __global__ void tanh_bwd_f64(const double* __restrict__ dy, const double* __restrict__ y, double* __restrict__ dx, long long n) { tanh_bwd(dy, y, dx, n); }
extern "C" __global__ void sigmoid_fwd_f32(const float* __restrict__ x, float* __restrict__ y, long long n) { sigmoid_fwd(x, y, n); }
extern "C" __global__ void sigmoid_fwd_f64(const double* __restrict__ x, double* __restrict__ y, long long n) { sigmoid_fwd(x, y, n); }
extern "C" __global__ void sigmoid_bwd_f32(const float* __restrict__ dy, const float* __restrict__ y, float* __restrict__ dx, long long n) { sigmoid_bwd(dy, y, dx, n); }
extern "C" __global__ void sigmoid_bwd_f64(const double* __restrict__ dy, const double* __restrict__ y, double* __restrict__ dx, long long n) { sigmoid_bwd(dy, y, dx, n); }
