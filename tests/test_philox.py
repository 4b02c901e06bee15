"""Philox4x32-10 against Random123's known-answer vectors, and the dropout mapping."""
import numpy as np
import pytest

from p2p_cupy import philox

KNOWN_ANSWERS = [  # (counter, key, output) from Random123's kat_vectors
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_philox_matches_random123_known_answers(counter, key, expected):
    out = philox.philox4x32_10(counter, key)
    assert [int(w) for w in out] == list(expected)


def test_philox_vectorised_equals_one_counter_at_a_time():
    rng = np.random.default_rng(0)
    counters = rng.integers(0, 2**32, (4, 6), dtype=np.uint64).astype(np.uint32)
    batch = philox.philox4x32_10(tuple(counters), (123, 456))
    for j in range(6):
        single = philox.philox4x32_10(tuple(counters[:, j]), (123, 456))
        assert np.array_equal(batch[:, j], single)


def test_dropout_words_follow_the_documented_mapping():
    seed, step = 0x0123456789ABCDEF, 0x1_0000_0007     # both halves of both are used
    words = philox.dropout_words(11, seed, step)
    for i in range(11):
        block = i // 4
        counter = (block & 0xFFFFFFFF, block >> 32, step & 0xFFFFFFFF, step >> 32)
        expected = philox.philox4x32_10(counter, (seed & 0xFFFFFFFF, seed >> 32))[i % 4]
        assert words[i] == expected


def test_keep_threshold_is_the_exact_ceiling():
    assert philox.keep_threshold(0.0) == 0
    assert philox.keep_threshold(0.5) == 2**23
    assert philox.keep_threshold(1e-9) == 1               # any p > 0 drops something


def test_a_placed_mask_is_the_slice_of_the_larger_batchs_mask():
    """Rank r of N with a local batch of 2 holds samples r and r + N of the global batch of
    2N; its masks are those samples' masks in the global batch (per sample 9: blocks of 4
    straddle samples)."""
    world, local, per_sample, p = 3, 2, 9, 0.5
    whole = philox.dropout_keep_mask(world * local * per_sample, p, 7, 11).reshape(
        world * local, 3, 3, 1)
    for rank in range(world):
        placed = philox.placed_keep_mask((local, 3, 3, 1), p, 7, 11, (rank, world))
        np.testing.assert_array_equal(placed, whole[rank::world])
    np.testing.assert_array_equal(philox.placed_keep_mask((6, 3, 3, 1), p, 7, 11), whole)
