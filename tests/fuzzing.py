"""Mutation fuzzing of the readers of untrusted files (.pth, .npz checkpoints, data-set
archives): hypothesis flips, truncates, inserts and overwrites bytes of a valid file, and
a worker subprocess (fuzz_worker.py) reads each result. The reader must end in a clean
result or the project's own error (P2PError, one line); any other exception is reported
with its traceback, and a crash (a segfault kills the worker) or a hang fails the test
with the file that caused it. One worker serves all the examples of a test, so the
hundreds of examples cost seconds, not a Python start-up each.

Reproducible in CI: a fixed number of examples, derandomized, no example database.
"""
import collections
import json
import select
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

WORKER = Path(__file__).with_name("fuzz_worker.py")
HANG_SECONDS = 60

FUZZ_SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                HealthCheck.too_slow])

# bytes that make numbers in headers extreme: sizes, strides, counts, lengths
EXTREMES = st.sampled_from([b"\xff" * 8, b"\x00" * 8, b"\x7f\xff\xff\xff", b"\x80",
                            b"\xff\xff\xff\x7f", b"-1", b"99999999999", b"\x00"])
MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 30), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 30)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 30), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("overwrite"), st.integers(0, 1 << 30),
              st.one_of(EXTREMES, st.binary(min_size=1, max_size=8))),
)
MUTATIONS = st.lists(MUTATION, min_size=1, max_size=4)


def mutate(data: bytes, mutations) -> bytes:
    """Apply the mutations in order; positions wrap around the current length."""
    data = bytearray(data)
    for op, at, *arg in mutations:
        at = at % (len(data) + 1)
        if op == "flip" and at < len(data):
            data[at] ^= 1 << arg[0]
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = arg[0]
        elif op == "overwrite":
            data[at:at + len(arg[0])] = arg[0]
    return bytes(data)


class Worker:
    """The worker subprocess; read(kind, path) -> ("ok" | "error", message)."""

    def __init__(self):
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def read(self, kind: str, path: Path):
        self.proc.stdin.write(f"{kind}\t{path}\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], HANG_SECONDS)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            self.start()
            raise AssertionError(f"the {kind} reader hung on {path} (kept for a look)")
        line = self.proc.stdout.readline()
        if not line:
            status = self.proc.wait()
            self.start()
            raise AssertionError(f"the {kind} reader crashed (exit status {status}) on "
                                 f"{path} (kept for a look)")
        outcome, payload = line.split(" ", 1)
        message = json.loads(payload)
        assert outcome != "bug", f"the {kind} reader raised on {path}:\n{message}"
        return outcome, message

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def check_outcome(outcome, message, path):
    """A P2PError is one line naming the file."""
    if outcome == "error":
        assert "\n" not in message, message
        assert Path(path).name in message, message


def fuzz_outcomes(worker, kind: str, seed: bytes, path) -> collections.Counter:
    """Write FUZZ_SETTINGS' mutations of the valid file `seed` to `path` one by one, have
    the worker read each as `kind`, check every outcome (a clean result or our one-line
    error), and count the outcomes ("ok", "error")."""
    outcomes = collections.Counter()

    @FUZZ_SETTINGS
    @given(MUTATIONS)
    def read_mutated(mutations):
        path.write_bytes(mutate(seed, mutations))
        outcome, message = worker.read(kind, path)
        check_outcome(outcome, message, path)
        outcomes[outcome] += 1

    read_mutated()
    return outcomes
