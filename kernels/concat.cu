// concat.cu: channel concatenation (the U-Net's skip connections) and its gradient split
// (p2p_cupy/ops/concat.py).
//
// Layout: NCHW. Input i (N, C_i, H, W) occupies channels [offset_i, offset_i + C_i) of the
// output (N, C, H, W); for each n that is one contiguous run of C_i*H*W elements in both.
// One launch per input, one thread per element of the input (grid-stride): the forward
// copies the input into its slice, the backward copies the slice of dy out. Both directions
// are plain coalesced copies; a gather in each direction needs no atomics.
#include "common.cuh"

// Flat index of input element i (run length `run` = C_i*H*W) inside the output, whose
// per-image stride is `out_run` = C*H*W and where the slice starts at `start` = offset_i*H*W.
__device__ inline long long slice_index(long long i, long long run, long long out_run, long long start) {
    return (i / run) * out_run + start + i % run;
}

template <typename T>
__device__ void concat_fwd(const T* __restrict__ part, T* __restrict__ out, long long total, long long run, long long out_run, long long start) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x)
        out[slice_index(i, run, out_run, start)] = part[i];
}
template <typename T>
__device__ void concat_bwd(const T* __restrict__ dout, T* __restrict__ dpart, long long total, long long run, long long out_run, long long start) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x)
        dpart[i] = dout[slice_index(i, run, out_run, start)];
}

extern "C" __global__ void concat_fwd_f32(const float* __restrict__ part, float* __restrict__ out, long long total, long long run, long long out_run, long long start) { concat_fwd(part, out, total, run, out_run, start); }
extern "C" __global__ void concat_fwd_f64(const double* __restrict__ part, double* __restrict__ out, long long total, long long run, long long out_run, long long start) { concat_fwd(part, out, total, run, out_run, start); }
extern "C" __global__ void concat_bwd_f32(const float* __restrict__ dout, float* __restrict__ dpart, long long total, long long run, long long out_run, long long start) { concat_bwd(dout, dpart, total, run, out_run, start); }
extern "C" __global__ void concat_bwd_f64(const double* __restrict__ dout, double* __restrict__ dpart, long long total, long long run, long long out_run, long long start) { concat_bwd(dout, dpart, total, run, out_run, start); }
