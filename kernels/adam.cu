// adam.cu: the fused Adam update (p2p_cupy/optim.py) over one optimizer's flat parameter,
// gradient and moment buffers: one pass reads p, g, m, v and writes p, m, v, instead of
// the ~13 array passes of the NumPy form.
//
//   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p -= step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps)
// with step_size = lr / (1 - b1^t), inv_sqrt_bc2 = 1 / sqrt(1 - b2^t) (PyTorch's form).
//
// The step count, the learning rate and the two bias corrections live in device memory,
// hyper = [t, lr, step_size, inv_sqrt_bc2] (double), so a step takes nothing from the host
// that changes between steps (a captured CUDA graph replays it as is): adam_advance (one
// thread) counts the step and refreshes the corrections, then adam_fwd reads them. The
// host writes only lr, between steps (the schedule). Scalars are rounded to T once, as
// the NumPy form's in-place ops do.
#include "common.cuh"

__device__ inline float sqrt_t(float x) { return sqrtf(x); }
__device__ inline double sqrt_t(double x) { return sqrt(x); }

__device__ void adam_advance(double* hyper, double b1, double b2) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    const double t = hyper[0] + 1.0;
    hyper[0] = t;
    hyper[2] = hyper[1] / (1.0 - pow(b1, t));
    hyper[3] = 1.0 / sqrt(1.0 - pow(b2, t));
}

template <typename T>
__device__ void adam_fwd(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v, long long n,
                         double b1, double b2, double eps, const double* __restrict__ hyper) {
    const T b1_t = (T)b1, c1 = (T)(1.0 - b1), b2_t = (T)b2, c2 = (T)(1.0 - b2);
    const T eps_t = (T)eps, step_t = (T)hyper[2], bc_t = (T)hyper[3];
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        const T gi = g[i];
        const T mi = b1_t * m[i] + c1 * gi;
        const T vi = b2_t * v[i] + c2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        p[i] -= step_t * (mi / (sqrt_t(vi) * bc_t + eps_t));
    }
}

extern "C" __global__ void adam_advance_f64(double* hyper, double b1, double b2) { adam_advance(hyper, b1, b2); }
extern "C" __global__ void adam_fwd_f32(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m, float* __restrict__ v, long long n, double b1, double b2, double eps, const double* __restrict__ hyper) { adam_fwd(p, g, m, v, n, b1, b2, eps, hyper); }
extern "C" __global__ void adam_fwd_f64(double* __restrict__ p, const double* __restrict__ g, double* __restrict__ m, double* __restrict__ v, long long n, double b1, double b2, double eps, const double* __restrict__ hyper) { adam_fwd(p, g, m, v, n, b1, b2, eps, hyper); }
