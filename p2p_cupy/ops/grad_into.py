"""Parameter gradients delivered into the parameters' .grad by the op itself.

A layer's backward passes `into = (target, zeroed)` for each parameter gradient
(Parameter.gradient_target): the op adds its gradient into `target`, or, when `zeroed`
says the target holds zeros, writes it there. On cuda and emu that removes the separate
`grad += g` launch of every parameter gradient (a weight gradient's GEMM accumulates with
beta = 1, a reduction kernel writes into the .grad, or adds there with its `accumulate`
flag, rounding the gradient to the dtype first, as `+=` does); on NumPy it is the same
`+=` as before, so the CPU's results do not change. An op given no target returns its
gradient as a new array, as before.
"""
from __future__ import annotations

from p2p_cupy import backend


def deliver(grad, into):
    """grad itself when there is no target; else grad added into it, and None."""
    if into is None:
        return grad
    backend.of(into[0]).add_into(into[0], grad)
    return None


def gemm_into(bk, a, b, into, shape):
    """a @ b (2-D), reshaped to `shape`: into its target (accumulating, or writing when
    zeroed), or as a new array without one."""
    if into is None:
        return bk.gemm(a, b).reshape(shape)
    target, zeroed = into
    if not target.flags.c_contiguous:       # no 2-D view of it to write into
        bk.add_into(target, bk.gemm(a, b).reshape(shape))
    else:
        bk.gemm(a, b, out=target.reshape(a.shape[0], b.shape[1]), accumulate=not zeroed)
    return None


def kernel_into(bk, write, into):
    """For a kernel that writes a gradient into an output array, or adds it there (its
    accumulate flag): write(out, accumulate) runs it into the target when that is
    contiguous (adding unless zeroed); else write(None, False) allocates its own output,
    which is added into the target (or returned without one)."""
    if into is None:
        return write(None, False)
    target, zeroed = into
    if target.flags.c_contiguous:
        write(target, not zeroed)
    else:
        bk.add_into(target, write(None, False))
    return None
