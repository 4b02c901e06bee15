// activations.cu: leaky ReLU, ReLU, tanh, sigmoid, forward and backward (p2p_cupy/ops/activations.py).
//
// Layout: any contiguous array seen as n flat elements, walked by elementwise.cuh's map1 /
// map2 (packs of 4, float4 loads when aligned, two packs in flight per thread, grid-stride
// so any grid covers any n). Backward reads the forward's output y (the op's cache), never x:
//     leaky_relu  dx = y > 0 ? dy : slope dy      relu     dx = y > 0 ? dy : 0
//     tanh        dx = dy (1 - y^2)               sigmoid  dx = dy y (1 - y)
// Purely memory-bound: one read (two in backward) and one write per element.
#include "common.cuh"
#include "elementwise.cuh"

__device__ inline float exp_t(float x) { return expf(x); }
__device__ inline double exp_t(double x) { return exp(x); }
__device__ inline float tanh_t(float x) { return tanhf(x); }
__device__ inline double tanh_t(double x) { return tanh(x); }

// The activations and their backwards as functors for elementwise.cuh's map1 / map2.
template <typename T> struct LeakyRelu {
    T slope;
    __device__ T operator()(T x) const { return x > T(0) ? x : slope * x; }
};
template <typename T> struct LeakyReluGrad {   // (dy, y)
    T slope;
    __device__ T operator()(T dy, T y) const { return y > T(0) ? dy : slope * dy; }
};
template <typename T> struct Relu {
    __device__ T operator()(T x) const { return x > T(0) ? x : T(0); }
};
template <typename T> struct ReluGrad {
    __device__ T operator()(T dy, T y) const { return y > T(0) ? dy : T(0); }
};
template <typename T> struct Tanh {
    __device__ T operator()(T x) const { return tanh_t(x); }
};
template <typename T> struct TanhGrad {
    __device__ T operator()(T dy, T y) const { return dy * (T(1) - y * y); }
};
// Stable for any x: only e^-|x| is computed, which never overflows.
template <typename T> struct Sigmoid {
    __device__ T operator()(T x) const {
        const T e = exp_t(-(x < T(0) ? -x : x));
        return (x >= T(0) ? T(1) : e) / (T(1) + e);
    }
};
template <typename T> struct SigmoidGrad {
    __device__ T operator()(T dy, T y) const { return dy * y * (T(1) - y); }
};

extern "C" __global__ void leaky_relu_fwd_f32(const float* __restrict__ x, float* __restrict__ y, long long n, float slope) { map1(x, y, n, LeakyRelu<float>{slope}); }
extern "C" __global__ void leaky_relu_fwd_f64(const double* __restrict__ x, double* __restrict__ y, long long n, double slope) { map1(x, y, n, LeakyRelu<double>{slope}); }
extern "C" __global__ void leaky_relu_bwd_f32(const float* __restrict__ dy, const float* __restrict__ y, float* __restrict__ dx, long long n, float slope) { map2(dy, y, dx, n, LeakyReluGrad<float>{slope}); }
extern "C" __global__ void leaky_relu_bwd_f64(const double* __restrict__ dy, const double* __restrict__ y, double* __restrict__ dx, long long n, double slope) { map2(dy, y, dx, n, LeakyReluGrad<double>{slope}); }
extern "C" __global__ void relu_fwd_f32(const float* __restrict__ x, float* __restrict__ y, long long n) { map1(x, y, n, Relu<float>{}); }
extern "C" __global__ void relu_fwd_f64(const double* __restrict__ x, double* __restrict__ y, long long n) { map1(x, y, n, Relu<double>{}); }
extern "C" __global__ void relu_bwd_f32(const float* __restrict__ dy, const float* __restrict__ y, float* __restrict__ dx, long long n) { map2(dy, y, dx, n, ReluGrad<float>{}); }
extern "C" __global__ void relu_bwd_f64(const double* __restrict__ dy, const double* __restrict__ y, double* __restrict__ dx, long long n) { map2(dy, y, dx, n, ReluGrad<double>{}); }
extern "C" __global__ void tanh_fwd_f32(const float* __restrict__ x, float* __restrict__ y, long long n) { map1(x, y, n, Tanh<float>{}); }
extern "C" __global__ void tanh_fwd_f64(const double* __restrict__ x, double* __restrict__ y, long long n) { map1(x, y, n, Tanh<double>{}); }
extern "C" __global__ void tanh_bwd_f32(const float* __restrict__ dy, const float* __restrict__ y, float* __restrict__ dx, long long n) { map2(dy, y, dx, n, TanhGrad<float>{}); }
extern "C" __global__ void tanh_bwd_f64(const double* __restrict__ dy, const double* __restrict__ y, double* __restrict__ dx, long long n) { map2(dy, y, dx, n, TanhGrad<double>{}); }
extern "C" __global__ void sigmoid_fwd_f32(const float* __restrict__ x, float* __restrict__ y, long long n) { map1(x, y, n, Sigmoid<float>{}); }
extern "C" __global__ void sigmoid_fwd_f64(const double* __restrict__ x, double* __restrict__ y, long long n) { map1(x, y, n, Sigmoid<double>{}); }
extern "C" __global__ void sigmoid_bwd_f32(const float* __restrict__ dy, const float* __restrict__ y, float* __restrict__ dx, long long n) { map2(dy, y, dx, n, SigmoidGrad<float>{}); }
extern "C" __global__ void sigmoid_bwd_f64(const double* __restrict__ dy, const double* __restrict__ y, double* __restrict__ dx, long long n) { map2(dy, y, dx, n, SigmoidGrad<double>{}); }
