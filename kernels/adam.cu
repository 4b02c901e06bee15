// adam.cu: the fused Adam update (p2p_cupy/optim.py): one pass reads p, g, m, v and writes
// p, m, v, instead of the ~13 array passes of the NumPy form.
//
//   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p -= step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps)
// with step_size = lr / (1 - b1^t), inv_sqrt_bc2 = 1 / sqrt(1 - b2^t) computed on the host
// (PyTorch's form). Flat arrays, one thread per element, grid-stride; scalars arrive in
// double and are rounded to T once, as the NumPy form's in-place ops do.
#include "common.cuh"

__device__ inline float sqrt_t(float x) { return sqrtf(x); }
__device__ inline double sqrt_t(double x) { return sqrt(x); }

template <typename T>
__device__ void adam_fwd(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v, long long n,
                         double b1, double b2, double eps, double step_size, double inv_sqrt_bc2) {
    const T b1_t = (T)b1, c1 = (T)(1.0 - b1), b2_t = (T)b2, c2 = (T)(1.0 - b2);
    const T eps_t = (T)eps, step_t = (T)step_size, bc_t = (T)inv_sqrt_bc2;
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

extern "C" __global__ void adam_fwd_f32(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m, float* __restrict__ v, long long n, double b1, double b2, double eps, double step_size, double inv_sqrt_bc2) { adam_fwd(p, g, m, v, n, b1, b2, eps, step_size, inv_sqrt_bc2); }
extern "C" __global__ void adam_fwd_f64(double* __restrict__ p, const double* __restrict__ g, double* __restrict__ m, double* __restrict__ v, long long n, double b1, double b2, double eps, double step_size, double inv_sqrt_bc2) { adam_fwd(p, g, m, v, n, b1, b2, eps, step_size, inv_sqrt_bc2); }
