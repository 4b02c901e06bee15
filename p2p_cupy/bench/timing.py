"""Interleaved timing: the candidates take turns, so a machine shared with other work slows
them alike, and the medians compare like with like."""
from __future__ import annotations

import time

import numpy as np


def interleaved(candidates: dict, warmup: int, iters: int, sync=None) -> dict:
    """Run each callable of {name: fn} in turn, warmup + iters rounds; returns
    {name: [seconds of each timed round]}. `sync(name)` waits for that candidate's device."""
    times = {name: [] for name in candidates}
    for round_ in range(warmup + iters):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            if sync is not None:
                sync(name)
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def summary(seconds) -> dict:
    """Median, spread (min, max, quartiles) and the raw samples, in milliseconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    q1, median, q3 = np.percentile(ms, [25, 50, 75])
    return {"median_ms": float(median), "min_ms": float(ms.min()), "max_ms": float(ms.max()),
            "q1_ms": float(q1), "q3_ms": float(q3), "samples_ms": [round(float(t), 3) for t in ms]}


def best_of(fn, repeats: int, sync=None) -> float:
    """The fastest of `repeats` runs after one warm-up run, in seconds."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        best = min(best, time.perf_counter() - start)
    return best
