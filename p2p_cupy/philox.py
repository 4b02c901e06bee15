"""Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011).

A counter-based generator: 4 random uint32 words are a pure function of a 128-bit counter
and a 64-bit key, so any element's random number is computed directly from its index, with
no state to carry between threads. This file is the NumPy twin of the CUDA version; the
two must agree bit for bit.

One round, on the counter words (c0, c1, c2, c3) and key (k0, k1):
    hi0:lo0 = M0 * c0,  hi1:lo1 = M1 * c2         (32x32 -> 64-bit products)
    (c0, c1, c2, c3) <- (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
then the key is bumped (k0 += W0, k1 += W1, mod 2**32); ten rounds in all.

How dropout uses it (the mapping the CUDA kernel reproduces exactly):
    element i   = the flat C-order index of an element of the tensor (0 <= i < x.size)
    key         = (seed & 0xffffffff, (seed >> 32) & 0xffffffff)
    counter     = (block & 0xffffffff, block >> 32, step & 0xffffffff, step >> 32)
                  with block = i // 4
    word        = output word number i % 4 of philox4x32_10(counter, key)
    keep i      iff (word >> 8) >= ceil(p * 2**24)
                  (the same as u >= p for u = (word >> 8) * 2**-24, exactly, with no
                  float rounding to disagree on)
    y[i]        = x[i] * (1 / (1 - p)) if kept else 0, the scale rounded to x's dtype
A batch that is one rank's share of a larger one maps its element i of sample n to
    i' = (offset + n * stride) * per_sample + i % per_sample   (placed_keep_mask below)
and uses i' in place of i.
`seed` and `step` are read as unsigned 64-bit integers; Dropout advances `step` once per
training forward, so every step draws a fresh mask and any step can be replayed.
"""
from __future__ import annotations

import math

import numpy as np

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = 0x9E3779B9, 0xBB67AE85
ROUNDS = 10
_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def philox4x32_10(counter, key):
    """The four output words for counters (4 uint32 arrays of one shape) and a key (k0, k1).

    Returns a uint32 array of shape (4,) + counter shape.
    """
    # Each word is held in a uint64 array (values < 2**32), so the 32x32 -> 64-bit products
    # are exact; the rounds run in place in preallocated buffers (no temporaries: this is
    # the cost of NumPy dropout).
    c0, c1, c2, c3 = (np.array(c, dtype=np.uint64) for c in counter)
    p0, p1 = np.empty_like(c0), np.empty_like(c0)
    k0, k1 = int(key[0]) & 0xFFFFFFFF, int(key[1]) & 0xFFFFFFFF
    for _ in range(ROUNDS):
        np.multiply(c0, M0, out=p0)
        np.multiply(c2, M1, out=p1)
        np.right_shift(p1, _SHIFT32, out=c0)           # c0 <- hi1 ^ c1 ^ k0
        c0 ^= c1
        c0 ^= np.uint64(k0)
        np.right_shift(p0, _SHIFT32, out=c2)           # c2 <- hi0 ^ c3 ^ k1
        c2 ^= c3
        c2 ^= np.uint64(k1)
        np.bitwise_and(p1, _LOW32, out=c1)             # c1 <- lo1
        np.bitwise_and(p0, _LOW32, out=c3)             # c3 <- lo0
        k0, k1 = (k0 + W0) & 0xFFFFFFFF, (k1 + W1) & 0xFFFFFFFF
    return np.stack([c0, c1, c2, c3]).astype(np.uint32)


def dropout_words(size: int, seed: int, step: int, start: int = 0) -> np.ndarray:
    """The uint32 word of every element start..start+size-1 under the dropout mapping."""
    seed, step = int(seed) % 2**64, int(step) % 2**64
    first = start // 4
    blocks = np.arange(first, (start + size + 3) // 4, dtype=np.uint64)
    counter = ((blocks & _LOW32).astype(np.uint32), (blocks >> _SHIFT32).astype(np.uint32),
               np.full(blocks.shape, step & 0xFFFFFFFF, np.uint32),
               np.full(blocks.shape, step >> 32, np.uint32))
    words = philox4x32_10(counter, (seed & 0xFFFFFFFF, seed >> 32))
    # words[j, b] belongs to element 4*b + j: transpose so the flat order is the element order
    return words.T.reshape(-1)[start - 4 * first:start - 4 * first + size]


def keep_threshold(p: float) -> int:
    """Elements whose (word >> 8) is at least this are kept: ceil(p * 2**24)."""
    return math.ceil(p * 2**24)


def dropout_keep_mask(size: int, p: float, seed: int, step: int, start: int = 0) -> np.ndarray:
    """Boolean keep mask of elements start..start+size-1 (flat C order), drop probability p."""
    return (dropout_words(size, seed, step, start) >> np.uint32(8)) >= \
        np.uint32(keep_threshold(p))


def placed_keep_mask(shape, p: float, seed: int, step: int, placement=(0, 1)) -> np.ndarray:
    """The keep mask of a batch whose sample n is sample offset + n * stride of a larger
    batch (placement = (offset, stride)): each sample gets the elements, hence the mask,
    it has in the larger batch. Data parallelism uses it with (rank, world size), so a
    rank's samples are dropped out as in a single process holding the global batch."""
    offset, stride = placement
    per_sample = int(np.prod(shape[1:]))
    return np.concatenate([
        dropout_keep_mask(per_sample, p, seed, step, (offset + n * stride) * per_sample)
        for n in range(shape[0])]).reshape(shape)
