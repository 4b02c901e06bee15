// fiber.h: switch between the emulated threads of a block, each on its own stack.
//
// On x86-64 a hand-written switch saves the six callee-saved registers and swaps stack
// pointers (a few ns); swapcontext would also save the signal mask with a system call on
// every switch, which made barrier-heavy kernels ~10x slower. Elsewhere, ucontext.
// The scheduler never changes the floating-point control state, so it is not saved.
#pragma once

#include <cstddef>
#include <cstdint>

namespace p2p_emu {

#if defined(__x86_64__)

struct FiberContext {
    void* sp;
};

// p2p_emu_switch(from, to): push callee-saved registers, store rsp in *from, load to's rsp,
// pop its registers and return into it.
extern "C" void p2p_emu_switch(FiberContext* from, FiberContext* to);
asm(R"(
    .text
    .p2align 4
    .hidden p2p_emu_switch
    .globl p2p_emu_switch
    .type p2p_emu_switch, @function
p2p_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq (%rsi), %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size p2p_emu_switch, .-p2p_emu_switch
)");

inline void fiber_switch(FiberContext* from, FiberContext* to) { p2p_emu_switch(from, to); }

// A context that starts `body` (which must never return) on the given stack: six zeroed
// register slots and `body` as return address, placed so that body starts with the stack
// alignment of a called function (rsp % 16 == 8).
inline void fiber_init(FiberContext* c, char* stack, size_t size, void (*body)()) {
    auto top = reinterpret_cast<uintptr_t>(stack + size) & ~uintptr_t(15);
    auto* slots = reinterpret_cast<void**>(top - 16 - 6 * sizeof(void*));
    for (int i = 0; i < 6; ++i) slots[i] = nullptr;
    slots[6] = reinterpret_cast<void*>(body);
    c->sp = slots;
}

#else
}  // namespace p2p_emu
#include <ucontext.h>
namespace p2p_emu {

struct FiberContext {
    ucontext_t uc;
};

inline void fiber_switch(FiberContext* from, FiberContext* to) { swapcontext(&from->uc, &to->uc); }

inline void fiber_init(FiberContext* c, char* stack, size_t size, void (*body)()) {
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = stack;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = nullptr;
    makecontext(&c->uc, body, 0);
}

#endif

}  // namespace p2p_emu
