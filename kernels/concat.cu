// concat.cu: channel concatenation (the U-Net's skip connections) and its gradient split
// (p2p_cupy/ops/concat.py).
//
// Layout: NCHW. Input i (N, C_i, H, W) occupies channels [offset_i, offset_i + C_i) of the
// output (N, C, H, W); for each image that is one contiguous run of run = C_i*H*W elements
// in both, at out + img * out_run + start (out_run = C*H*W, start = offset_i*H*W).
// One launch per input over a 2-D grid: y the images, x the run, copied by
// elementwise.cuh's map1 (float4 packs when aligned). No division: the image is the block's
// y index. Both directions are plain copies; a gather in each direction needs no atomics.
#include "common.cuh"
#include "elementwise.cuh"

template <typename T> struct Copy {
    __device__ T operator()(T a) const { return a; }
};

template <typename T>
__device__ void concat_fwd(const T* __restrict__ part, T* __restrict__ out, int n, long long run, long long out_run, long long start) {
    for (int img = blockIdx.y; img < n; img += gridDim.y)
        map1(part + img * run, out + img * out_run + start, run, Copy<T>{});
}
template <typename T>
__device__ void concat_bwd(const T* __restrict__ dout, T* __restrict__ dpart, int n, long long run, long long out_run, long long start) {
    for (int img = blockIdx.y; img < n; img += gridDim.y)
        map1(dout + img * out_run + start, dpart + img * run, run, Copy<T>{});
}

extern "C" __global__ void concat_fwd_f32(const float* __restrict__ part, float* __restrict__ out, int n, long long run, long long out_run, long long start) { concat_fwd(part, out, n, run, out_run, start); }
extern "C" __global__ void concat_fwd_f64(const double* __restrict__ part, double* __restrict__ out, int n, long long run, long long out_run, long long start) { concat_fwd(part, out, n, run, out_run, start); }
extern "C" __global__ void concat_bwd_f32(const float* __restrict__ dout, float* __restrict__ dpart, int n, long long run, long long out_run, long long start) { concat_bwd(dout, dpart, n, run, out_run, start); }
extern "C" __global__ void concat_bwd_f64(const double* __restrict__ dout, double* __restrict__ dpart, int n, long long run, long long out_run, long long start) { concat_bwd(dout, dpart, n, run, out_run, start); }
