// common.cuh: included first by every kernels/*.cu.
//
// The same source is compiled three ways: by NVRTC (cupy.RawModule, the cuda backend), by
// nvcc in CI (sm_80/sm_90 compile check) and by g++ -DP2P_EMU (the emu backend, our CPU
// emulator of CUDA's execution model, see emu/cuda_cpu.h and README.md).
//
// Kernel-writing contract (what a kernel may use, so that all three accept it):
//  * Export: every launchable kernel is a plain wrapper
//        extern "C" __global__ void <op>_<fwd|bwd>_<f32|f64>(params) { body }
//    written out in full, one per dtype. Generic code lives in a `template <typename T>
//    __device__` function that the wrappers call (a __global__ cannot call a __global__).
//    The loaders read these signatures to check launch arguments, so parameters are
//    restricted to:
//        int, unsigned int, long long, unsigned long long, float, double   (by value)
//        [const] float*, double*, int*, unsigned int*, long long*,
//        unsigned long long*, unsigned char*            (C-contiguous arrays, __restrict__ ok)
//    `const T*` marks an input; a non-const pointer is an output (the emulator puts guard
//    bytes around it). Optional: __launch_bounds__(N) between void and the name.
//  * Types: built-in types only (no <cstdint>: NVRTC has no standard headers).
//  * Indexing: threadIdx, blockIdx, blockDim, gridDim, warpSize.
//  * Shared memory: `__shared__ T a[N];` (static) and P2P_DYNAMIC_SHARED(T, name) for the
//    dynamic part sized by the launch's shared_mem argument. Never read before written.
//  * Synchronisation: __syncthreads() reached by every thread of the block (no thread may
//    return before a barrier the others wait at); __syncwarp(), __shfl_sync,
//    __shfl_xor_sync, __shfl_down_sync, __shfl_up_sync, __ballot_sync, __any_sync,
//    __all_sync with the full mask 0xffffffff and all 32 lanes of a full warp present.
//  * Atomics: atomicAdd, atomicMax, atomicMin, atomicCAS, atomicExch.
//  * Math: the <cmath> float/double functions (expf, logf, tanhf, sqrtf, fmaxf, ...), and
//    __expf, __logf, __powf, __fdividef, rsqrtf, rsqrt, __saturatef, __umulhi, __umul64hi,
//    __fmaf_rn, min, max, __float_as_int/__int_as_float/__float_as_uint/__uint_as_float,
//    __double_as_longlong/__longlong_as_double, __ldg.
//  * Vector types: float2, float4, int2, int4, uint2, uint4 and make_*.
//  * printf works everywhere (debugging only).
// Anything else fails to compile in the emulator: add it to emu/cuda_cpu.h first.
#pragma once

#ifdef P2P_EMU
#include "emu/cuda_cpu.h"
#endif

// Dynamic shared memory: `P2P_DYNAMIC_SHARED(float, smem);` declares `float* smem` pointing
// at the launch's shared_mem bytes (16-byte aligned). One raw byte array, declared once here,
// cast per use: CUDA forbids two `extern __shared__` arrays of different types (templates).
#ifdef P2P_EMU
#define P2P_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::p2p_emu::dynamic_shared())
#else
extern __shared__ __align__(16) unsigned char p2p_dynamic_shared_[];
#define P2P_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(p2p_dynamic_shared_)
#endif

// Where plane (img, c) of an (n, channels, hw) tensor starts: the one 64-bit product of
// the plane-grid kernels (p2p_cupy/ops/launch.py: plane_grid).
__device__ inline long long plane_base(int img, int channels, int c, int hw) {
    return ((long long)img * channels + c) * hw;
}
