// scheduler.cpp: runs one kernel launch on the CPU with CUDA's execution model.
//
// Blocks run one after another. The threads of a block are fibers (fiber.h) on one OS
// thread: a thread runs until it reaches __syncthreads() or a warp intrinsic, then the next
// thread runs. A barrier is released when every thread of the block waits at it; a warp
// intrinsic completes when all 32 lanes of the warp have reached it.
//
// Fast path, warp by warp: the warp's first thread runs as a fiber; if it finishes without
// reaching a barrier or warp intrinsic, the warp has none (barriers are block-uniform, warp
// intrinsics warp-uniform), and its other threads run as a plain loop of calls, without any
// context switch. Otherwise the rest of the block runs as fibers.
//
// Stricter than hardware, on purpose: a thread that exits while others wait at a barrier,
// threads waiting at different barriers, a warp intrinsic without all 32 lanes, or a
// barrier or warp intrinsic reached after its warp's first thread finished without one, are errors.
#include <sys/mman.h>

#include <algorithm>
#include <cstdarg>
#include <stdexcept>
#include <string>
#include <vector>

#include "fiber.h"
// Last: it defines macros (__shared__, ...) and poisons names that system headers may use.
#include "cuda_cpu.h"

namespace p2p_emu {

uint3 thread_idx, block_idx;
dim3 block_dim, grid_dim;

namespace {

using Entry = void (*)(void**);
enum class State { not_started, runnable, at_barrier, at_warp_op, done };

struct Thread {
    uint3 index;  // its threadIdx
    FiberContext context;
    State state;
    const char* file;  // call site of the barrier / warp intrinsic it waits at
    int line;
    WarpOp op;
    unsigned long long value;  // what it contributes to a warp exchange
    int src_lane;              // the lane (0..31) whose value it receives
    WarpResult result;
};

// Kernel stacks: 256 KiB each, with a PROT_NONE page below so an overflow faults at once.
constexpr size_t kStackBytes = 256 * 1024;
constexpr size_t kGuardBytes = 4096;

struct Launch {
    Entry entry = nullptr;
    void** args = nullptr;
    unsigned int n_threads = 0;
    bool reverse = false;
    std::vector<Thread> threads;
    std::vector<int> warp_arrived;
    std::vector<char*> stacks;  // kept across launches
    std::vector<unsigned char> dynamic_shared;
    FiberContext scheduler;
    int current = 0;
    bool in_fiber = false;  // false in the plain-loop fast path
    int exited = 0;
    int at_barrier = 0;
    std::string error;
};
Launch L;  // one launch at a time: the Python side holds the GIL during a launch

struct PlainPathError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string format(const char* fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

uint3 unflatten(unsigned int i, const dim3& d) {
    return {i % d.x, (i / d.x) % d.y, i / (d.x * d.y)};
}

std::string thread_name(int t) {
    const uint3 i = unflatten(t, block_dim);
    return format("thread (%u,%u,%u) of block (%u,%u,%u)", i.x, i.y, i.z, block_idx.x,
                  block_idx.y, block_idx.z);
}

// The t-th thread in launch order (forward, or reverse to expose races).
int nth(unsigned int k) { return L.reverse ? L.n_threads - 1 - k : k; }

void fiber_main() {
    L.entry(L.args);
    L.threads[L.current].state = State::done;
    ++L.exited;
    fiber_switch(&L.threads[L.current].context, &L.scheduler);  // never resumed
}

void start_fiber(int t) {
    Thread& th = L.threads[t];
    th.state = State::runnable;
    fiber_init(&th.context, L.stacks[t] + kGuardBytes, kStackBytes, fiber_main);
}

void resume(int t) {
    L.current = t;
    thread_idx = L.threads[t].index;
    fiber_switch(&L.scheduler, &L.threads[t].context);
}

void yield() { fiber_switch(&L.threads[L.current].context, &L.scheduler); }

void ensure_stacks(unsigned int n) {
    while (L.stacks.size() < n) {
        void* p = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::runtime_error("cannot allocate fiber stacks");
        mprotect(p, kGuardBytes, PROT_NONE);
        L.stacks.push_back(static_cast<char*>(p));
    }
}

// Aborts the launch: from a fiber, back to the scheduler for good; from the plain loop,
// by an exception caught in run_block.
[[noreturn]] void abort_launch(const std::string& message) {
    if (!L.in_fiber) throw PlainPathError(message);
    L.error = message;
    yield();
    __builtin_unreachable();
}

void release_warp(int w) {
    Thread* lanes = &L.threads[w * 32];
    for (int i = 1; i < 32; ++i)
        if (lanes[i].op != lanes[0].op || lanes[i].line != lanes[0].line ||
            std::strcmp(lanes[i].file, lanes[0].file) != 0)
            abort_launch(format("divergent warp intrinsics: %s at %s:%d, %s at %s:%d",
                                thread_name(w * 32).c_str(), lanes[0].file, lanes[0].line,
                                thread_name(w * 32 + i).c_str(), lanes[i].file, lanes[i].line));
    unsigned int ballot = 0;
    for (int i = 0; i < 32; ++i) ballot |= (lanes[i].value != 0 ? 1u : 0u) << i;
    for (int i = 0; i < 32; ++i) {
        lanes[i].result = {lanes[lanes[i].src_lane].value, ballot};
        lanes[i].state = State::runnable;
    }
    L.warp_arrived[w] = 0;
}

const Thread* find(State s) {
    for (const Thread& t : L.threads)
        if (t.state == s) return &t;
    return nullptr;
}

// Starts the threads not started yet as fibers and runs sweeps over the block until all
// threads exit; "" or an error message.
std::string run_fibers() {
    for (unsigned int t = 0; t < L.n_threads; ++t)
        if (L.threads[t].state == State::not_started) start_fiber(t);
    for (;;) {
        for (unsigned int k = 0; k < L.n_threads; ++k) {
            if (L.threads[nth(k)].state != State::runnable) continue;
            resume(nth(k));
            if (!L.error.empty()) return L.error;
        }
        if (L.exited == static_cast<int>(L.n_threads)) return "";
        const Thread* waiting = find(State::at_barrier);
        if (L.exited > 0 && waiting) {
            const int t = static_cast<int>(find(State::done) - L.threads.data());
            return format("%s returned while %s waits at __syncthreads() at %s:%d "
                          "(early exit before a barrier)",
                          thread_name(t).c_str(),
                          thread_name(static_cast<int>(waiting - L.threads.data())).c_str(),
                          waiting->file, waiting->line);
        }
        if (find(State::runnable)) continue;  // lanes released by a warp intrinsic
        if (L.at_barrier == static_cast<int>(L.n_threads)) {
            for (const Thread& t : L.threads)
                if (t.line != waiting->line || std::strcmp(t.file, waiting->file) != 0)
                    return format("threads wait at different barriers: %s at %s:%d, %s at %s:%d",
                                  thread_name(static_cast<int>(waiting - L.threads.data())).c_str(),
                                  waiting->file, waiting->line,
                                  thread_name(static_cast<int>(&t - L.threads.data())).c_str(),
                                  t.file, t.line);
            for (Thread& t : L.threads) t.state = State::runnable;
            L.at_barrier = 0;
            continue;
        }
        const Thread* lane = find(State::at_warp_op);
        const int t = static_cast<int>(lane - L.threads.data());
        return format("%s waits at a warp intrinsic at %s:%d that not all 32 lanes of its warp "
                      "reach (lanes exited, wait elsewhere, or the warp is partial: "
                      "warp intrinsics need full warps)",
                      thread_name(t).c_str(), lane->file, lane->line);
    }
}

extern "C" {
extern unsigned char __start_p2p_shared[] __attribute__((weak));
extern unsigned char __stop_p2p_shared[] __attribute__((weak));
}

std::string run_block(unsigned long long b) {
    block_idx = {static_cast<unsigned int>(b % grid_dim.x),
                 static_cast<unsigned int>(b / grid_dim.x % grid_dim.y),
                 static_cast<unsigned int>(b / grid_dim.x / grid_dim.y)};
    // Poison: a read of shared memory that no thread wrote gives NaN (0xFF bytes).
    if (__start_p2p_shared) std::memset(__start_p2p_shared, 0xFF, __stop_p2p_shared - __start_p2p_shared);
    std::memset(L.dynamic_shared.data(), 0xFF, L.dynamic_shared.size());
    L.exited = 0;
    L.at_barrier = 0;
    std::fill(L.warp_arrived.begin(), L.warp_arrived.end(), 0);
    for (Thread& t : L.threads) t.state = State::not_started;

    // Warps in launch order; within a warp, thread k in launch order is first + k (forward)
    // or last - k (reverse), so that the whole block runs in nth() order.
    const unsigned int n_warps = (L.n_threads + 31) / 32;
    for (unsigned int i = 0; i < n_warps; ++i) {
        const unsigned int w = L.reverse ? n_warps - 1 - i : i;
        const unsigned int first = 32 * w, size = std::min(32u, L.n_threads - first);
        auto lane_thread = [&](unsigned int k) { return L.reverse ? first + size - 1 - k : first + k; };
        const int probe = lane_thread(0);
        L.in_fiber = true;
        start_fiber(probe);
        resume(probe);
        if (!L.error.empty()) return L.error;
        if (L.threads[probe].state != State::done) return run_fibers();

        L.in_fiber = false;
        for (unsigned int k = 1; k < size; ++k) {
            L.current = lane_thread(k);
            thread_idx = L.threads[L.current].index;
            try {
                L.entry(L.args);
            } catch (const PlainPathError& e) {
                return format("%s (but %s finished without reaching it: barriers must be reached "
                              "by all threads of the block, warp intrinsics by all lanes of the warp)",
                              e.what(), thread_name(probe).c_str());
            }
            L.threads[L.current].state = State::done;
            ++L.exited;
        }
    }
    return "";
}

}  // namespace

unsigned char* dynamic_shared() { return L.dynamic_shared.data(); }

int lane_id() { return L.current % 32; }

[[noreturn]] void fail(const char* file, int line, const char* what) {
    abort_launch(format("%s: %s at %s:%d", thread_name(L.current).c_str(), what, file, line));
}

void syncthreads(const char* file, int line) {
    if (!L.in_fiber) fail(file, line, "__syncthreads() reached");
    Thread& me = L.threads[L.current];
    me.state = State::at_barrier;
    me.file = file;
    me.line = line;
    ++L.at_barrier;
    yield();
}

WarpResult warp_exchange(WarpOp op, const char* file, int line, unsigned int mask,
                         unsigned long long value, int src_lane) {
    if (mask != 0xffffffffu) fail(file, line, "warp intrinsic with a partial mask (only 0xffffffff is supported)");
    if (!L.in_fiber) fail(file, line, "warp intrinsic reached");
    Thread& me = L.threads[L.current];
    me.state = State::at_warp_op;
    me.file = file;
    me.line = line;
    me.op = op;
    me.value = value;
    me.src_lane = src_lane;
    const int w = L.current / 32;
    if (++L.warp_arrived[w] == 32) release_warp(w);  // the last lane goes on at once
    else yield();
    return me.result;
}

}  // namespace p2p_emu

using namespace p2p_emu;

// Size of all __shared__ variables of this library (all kernels of one .cu file together).
extern "C" __attribute__((visibility("default"))) unsigned long long p2p_emu_static_shared_bytes() {
    return __start_p2p_shared ? __stop_p2p_shared - __start_p2p_shared : 0;
}

// Runs entry(args) for every thread of every block. Returns 0, or 1 with a message in err.
// Launch limits and argument types are checked by the Python launcher before this call.
extern "C" __attribute__((visibility("default"))) int p2p_emu_launch(
        Entry entry, void** args, const unsigned int* grid, const unsigned int* block,
        unsigned long long shared_bytes, int reverse, char* err, int err_size) {
    grid_dim = dim3(grid[0], grid[1], grid[2]);
    block_dim = dim3(block[0], block[1], block[2]);
    L.entry = entry;
    L.args = args;
    L.reverse = reverse != 0;
    L.n_threads = block[0] * block[1] * block[2];
    L.threads.assign(L.n_threads, Thread{});
    for (unsigned int t = 0; t < L.n_threads; ++t) L.threads[t].index = unflatten(t, block_dim);
    L.warp_arrived.assign((L.n_threads + 31) / 32, 0);
    L.dynamic_shared.assign(shared_bytes, 0);
    L.error.clear();
    std::string message;
    try {
        ensure_stacks(L.n_threads);
        const unsigned long long n_blocks = 1ull * grid[0] * grid[1] * grid[2];
        for (unsigned long long k = 0; k < n_blocks && message.empty(); ++k)
            message = run_block(L.reverse ? n_blocks - 1 - k : k);
    } catch (const std::exception& e) {
        message = e.what();
    }
    snprintf(err, err_size, "%s", message.c_str());
    return message.empty() ? 0 : 1;
}
