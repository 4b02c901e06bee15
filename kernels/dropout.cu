// dropout.cu: dropout forward/backward with Philox4x32-10 masks (p2p_cupy/ops/dropout.py).
//
// The mask is the counter-based function of p2p_cupy/philox.py, bit for bit: element i takes
// word i % 4 of philox4x32_10(counter = (i/4 low, i/4 high, step low, step high),
// key = (seed low, seed high)) and is kept iff (word >> 8) >= threshold = ceil(p 2^24).
// `step` is read from device memory (Dropout's 0-d counter stays on the GPU: no host sync).
// A batch that is one rank's share of a larger one (data parallelism) takes the masks its
// samples have there: local element i of sample n = i / per_sample is element
// (offset + n stride) per_sample + i % per_sample of the larger batch (offset 0, stride 1,
// per_sample n: the batch itself). One thread per group of 4 elements, grid-stride; the
// group's 4 words come from one Philox call whenever they share a counter block (always,
// when per_sample is a multiple of 4), with float4 loads and stores when the arrays are
// 16-byte aligned. The forward writes y and the mask m (0 or 1/(1-p), in x's dtype, the
// op's cache); the backward is dx = dy m (elementwise.cuh's map2).
#include "common.cuh"
#include "elementwise.cuh"

__device__ inline void philox4x32_10(unsigned int c[4], unsigned int k0, unsigned int k1) {
    const unsigned int M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    for (int round = 0; round < 10; ++round) {
        const unsigned int hi0 = __umulhi(M0, c[0]), lo0 = M0 * c[0];
        const unsigned int hi1 = __umulhi(M1, c[2]), lo1 = M1 * c[2];
        c[0] = hi1 ^ c[1] ^ k0;
        c[2] = hi0 ^ c[3] ^ k1;
        c[1] = lo1;
        c[3] = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

template <typename T>
__device__ void dropout_fwd(const T* __restrict__ x, T* __restrict__ y, T* __restrict__ mask, long long n,
                            unsigned long long seed, const long long* __restrict__ step_ptr, unsigned int threshold, T scale,
                            long long per_sample, long long offset, long long stride) {
    const unsigned long long step = (unsigned long long)step_ptr[0];
    const long long groups = (n + 3) / 4;
    const bool packed = aligned16(x) && aligned16(y) && aligned16(mask);  // uniform
    for (long long g = first_thread(); g < groups; g += grid_threads()) {
        unsigned int c[4];
        long long block = -1;                      // the counter block c holds the words of
        T m[4] = {T(0), T(0), T(0), T(0)};
        for (int j = 0; j < 4 && 4 * g + j < n; ++j) {
            const long long i = 4 * g + j;
            const long long sample = i / per_sample;
            const long long e = (offset + sample * stride) * per_sample + (i - sample * per_sample);
            if (e / 4 != block) {
                block = e / 4;
                c[0] = (unsigned int)(block & 0xffffffffLL);
                c[1] = (unsigned int)((unsigned long long)block >> 32);
                c[2] = (unsigned int)(step & 0xffffffffull);
                c[3] = (unsigned int)(step >> 32);
                philox4x32_10(c, (unsigned int)(seed & 0xffffffffull), (unsigned int)(seed >> 32));
            }
            m[j] = (c[e % 4] >> 8) >= threshold ? scale : T(0);
        }
        if (packed && 4 * g + 3 < n) {      // a whole group: one 16-byte load, two stores
            T v[4];
            load4(x + 4 * g, v);
            for (int j = 0; j < 4; ++j) v[j] *= m[j];
            store4(mask + 4 * g, m);
            store4(y + 4 * g, v);
            continue;
        }
        for (int j = 0; j < 4; ++j) {
            const long long i = 4 * g + j;
            if (i < n) {
                mask[i] = m[j];
                y[i] = x[i] * m[j];
            }
        }
    }
}
template <typename T> struct Mul {
    __device__ T operator()(T a, T b) const { return a * b; }
};

extern "C" __global__ void dropout_fwd_f32(const float* __restrict__ x, float* __restrict__ y, float* __restrict__ mask, long long n, unsigned long long seed, const long long* __restrict__ step, unsigned int threshold, float scale, long long per_sample, long long offset, long long stride) { dropout_fwd(x, y, mask, n, seed, step, threshold, scale, per_sample, offset, stride); }
extern "C" __global__ void dropout_fwd_f64(const double* __restrict__ x, double* __restrict__ y, double* __restrict__ mask, long long n, unsigned long long seed, const long long* __restrict__ step, unsigned int threshold, double scale, long long per_sample, long long offset, long long stride) { dropout_fwd(x, y, mask, n, seed, step, threshold, scale, per_sample, offset, stride); }
extern "C" __global__ void dropout_bwd_f32(const float* __restrict__ dy, const float* __restrict__ mask, float* __restrict__ dx, long long n) { map2(dy, mask, dx, n, Mul<float>{}); }
extern "C" __global__ void dropout_bwd_f64(const double* __restrict__ dy, const double* __restrict__ mask, double* __restrict__ dx, long long n) { map2(dy, mask, dx, n, Mul<double>{}); }
