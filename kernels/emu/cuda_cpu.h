// cuda_cpu.h: the CUDA C++ that our kernels may use, for g++ (C++17) on the CPU.
//
// Included by common.cuh when P2P_EMU is defined. Kernels run as plain C++ functions, one
// call per thread; scheduler.cpp runs the threads of a block as fibers that switch at
// __syncthreads() and warp intrinsics, and sets threadIdx/blockIdx before each thread runs.
// A feature that is missing here does not compile: that is the contract of what kernels
// may use (see common.cuh and README.md).
#pragma once

#include <cmath>
#include <cstdio>
#include <cstring>
#include <type_traits>

// ---- qualifiers: all threads share one address space, so they mean nothing here ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// Static shared memory: one static copy, used by the block being run. The section lets the
// scheduler find every __shared__ variable (__start_/__stop_p2p_shared) to poison it with
// 0xFF bytes (NaN for floats) before each block.
#define __shared__ __attribute__((section("p2p_shared"))) static

// ---- vector types and indices ----
struct uint3 { unsigned int x, y, z; };
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct __align__(8) float2 { float x, y; };
struct __align__(16) float4 { float x, y, z, w; };
struct __align__(8) int2 { int x, y; };
struct __align__(16) int4 { int x, y, z, w; };
struct __align__(8) uint2 { unsigned int x, y; };
struct __align__(16) uint4 { unsigned int x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned int x, unsigned int y) { return {x, y}; }
inline uint4 make_uint4(unsigned int x, unsigned int y, unsigned int z, unsigned int w) { return {x, y, z, w}; }

namespace p2p_emu {
// Set by the scheduler before it runs (or resumes) a thread.
extern uint3 thread_idx, block_idx;
extern dim3 block_dim, grid_dim;
unsigned char* dynamic_shared();

// Barriers and warp exchanges; file/line name the call site in error messages.
void syncthreads(const char* file, int line);
enum class WarpOp { sync, shfl, ballot };
struct WarpResult { unsigned long long value; unsigned int ballot; };
WarpResult warp_exchange(WarpOp op, const char* file, int line, unsigned int mask,
                         unsigned long long value, int src_lane);
int lane_id();
[[noreturn]] void fail(const char* file, int line, const char* what);

// __syncwarp(mask = full): a call site whose call operator takes the optional mask.
struct SyncWarp {
    const char* file;
    int line;
    void operator()(unsigned int mask = 0xffffffffu) const { warp_exchange(WarpOp::sync, file, line, mask, 0, 0); }
};

enum class Shfl { idx, xor_, down, up };
// The lane whose value this lane receives; its own lane when the source lies outside its
// segment of `width` lanes (CUDA's rule).
inline int shfl_source(Shfl kind, int lane, int arg, int width, const char* file, int line) {
    if (width <= 0 || width > 32 || (width & (width - 1)) != 0)
        fail(file, line, "shuffle width must be a power of 2 in [1, 32]");
    const int first = lane & ~(width - 1);
    int src = lane;
    switch (kind) {
        case Shfl::idx: src = first + (arg & (width - 1)); break;
        case Shfl::xor_: src = lane ^ arg; break;
        case Shfl::down: src = lane + arg; break;
        case Shfl::up: src = lane - arg; break;
    }
    return (src < first || src >= first + width) ? lane : src;
}

template <class T>
T shfl(Shfl kind, const char* file, int line, unsigned int mask, T var, int arg, int width = 32) {
    static_assert(std::is_arithmetic<T>::value && sizeof(T) <= 8, "shuffle of a non-scalar type");
    unsigned long long bits = 0;
    std::memcpy(&bits, &var, sizeof(T));
    const int src = shfl_source(kind, lane_id(), arg, width, file, line);
    bits = warp_exchange(WarpOp::shfl, file, line, mask, bits, src).value;
    T out;
    std::memcpy(&out, &bits, sizeof(T));
    return out;
}
}  // namespace p2p_emu

// Read-only views of the scheduler's indices (assigning to threadIdx does not compile).
inline const uint3& threadIdx = p2p_emu::thread_idx;
inline const uint3& blockIdx = p2p_emu::block_idx;
inline const dim3& blockDim = p2p_emu::block_dim;
inline const dim3& gridDim = p2p_emu::grid_dim;
constexpr int warpSize = 32;

// ---- synchronisation ----
#define __syncthreads() ::p2p_emu::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) (::p2p_emu::SyncWarp{__FILE__, __LINE__}(__VA_ARGS__))
#define __shfl_sync(...) ::p2p_emu::shfl(::p2p_emu::Shfl::idx, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_xor_sync(...) ::p2p_emu::shfl(::p2p_emu::Shfl::xor_, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_down_sync(...) ::p2p_emu::shfl(::p2p_emu::Shfl::down, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_up_sync(...) ::p2p_emu::shfl(::p2p_emu::Shfl::up, __FILE__, __LINE__, __VA_ARGS__)
#define __ballot_sync(mask, pred) \
    (::p2p_emu::warp_exchange(::p2p_emu::WarpOp::ballot, __FILE__, __LINE__, (mask), (pred) != 0, 0).ballot)
#define __any_sync(mask, pred) (__ballot_sync(mask, pred) != 0u)
#define __all_sync(mask, pred) (__ballot_sync(mask, pred) == 0xffffffffu)

// ---- atomics: threads of the emulator never run at the same time ----
template <class T> inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <class T> inline T atomicMax(T* p, T v) { T old = *p; *p = old < v ? v : old; return old; }
template <class T> inline T atomicMin(T* p, T v) { T old = *p; *p = v < old ? v : old; return old; }
template <class T> inline T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <class T> inline T atomicCAS(T* p, T cmp, T v) { T old = *p; *p = old == cmp ? v : old; return old; }

// ---- math intrinsics (exact versions of CUDA's fast approximations) ----
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __fmaf_rn(float x, float y, float z) { return fmaf(x, y, z); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline unsigned int __umulhi(unsigned int a, unsigned int b) { return (unsigned int)(((unsigned long long)a * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) { return (unsigned long long)(((unsigned __int128)a * b) >> 64); }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline unsigned int __float_as_uint(float x) { unsigned int i; std::memcpy(&i, &x, 4); return i; }
inline float __int_as_float(int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline float __uint_as_float(unsigned int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline long long __double_as_longlong(double x) { long long i; std::memcpy(&i, &x, 8); return i; }
inline double __longlong_as_double(long long i) { double x; std::memcpy(&x, &i, 8); return x; }
template <class T> inline T __ldg(const T* p) { return *p; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

// CUDA features the emulator does not model: using one is a compile error naming it.
#pragma GCC poison __constant__ __syncthreads_count __syncthreads_and __syncthreads_or
#pragma GCC poison __activemask __match_any_sync __match_all_sync __reduce_add_sync
#pragma GCC poison __threadfence __threadfence_block clock64 __nanosleep cooperative_groups
