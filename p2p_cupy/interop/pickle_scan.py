"""Look at a pickle's opcodes before unpickling it: refuse nested tuples that would crash
or hang the interpreter.

The restricted unpickler (torch_checkpoint.py) decides which *globals* a pickle may use,
but plain pickle opcodes alone can still hurt: a few bytes of TUPLE1 opcodes build a tuple
nested a million deep, and using it as a dict key makes Python hash it recursively in C,
past the end of the C stack (a segfault, not an exception); a tuple that holds the same
tuple twice, 60 times over, takes 2^60 steps to hash or compare. Only tuples and
frozensets matter: they are the hashable containers, and being immutable their size is
fixed when they are built. So we replay the opcode stream on a stack of "how big is this
item once expanded" numbers (pickletools decodes the opcodes without building anything)
and refuse any tuple or frozenset deeper or bigger than a state_dict ever needs.
"""
from __future__ import annotations

import pickletools

MAX_TUPLE_DEPTH = 32           # a state_dict's deepest tuple: a storage id (2 levels)
MAX_TUPLE_ELEMENTS = 100_000   # elements of one tuple, counting shared parts every time

IMMUTABLE_CONTAINERS = {"TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "FROZENSET"}
MEMO_PUT = {"PUT", "BINPUT", "LONG_BINPUT"}
MEMO_GET = {"GET", "BINGET", "LONG_BINGET"}


class PickleScanError(ValueError):
    """A pickle holds a structure we refuse to build (the message says which)."""


def check_nesting(file) -> None:
    """Read one pickle from `file` (up to its STOP opcode) without unpickling it; raise
    PickleScanError if it builds a tuple or frozenset too deep or too big, ValueError
    (from pickletools) if the opcode stream itself is malformed."""
    stack, marks, memo = [], [], {}     # marks: stack lengths at each MARK, as in pickle
    for opcode, arg, _pos in pickletools.genops(file):
        name = opcode.name
        if name in MEMO_PUT or name == "MEMOIZE":
            if len(stack) <= (marks[-1] if marks else 0):
                raise PickleScanError("memo store with an empty stack")
            memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
            continue
        if name in MEMO_GET:
            stack.append(memo.get(arg, (0, 1)))
            continue
        if name == "DUP":
            stack.append(stack[-1] if stack else (0, 1))
            continue
        popped = _pop(stack, marks, opcode.stack_before)
        if name in IMMUTABLE_CONTAINERS:
            depth = 1 + max((d for d, _ in popped), default=0)
            elements = 1 + sum(n for _, n in popped)
            if depth > MAX_TUPLE_DEPTH or elements > MAX_TUPLE_ELEMENTS:
                raise PickleScanError(f"a tuple nested {depth} deep with {elements:,} "
                                      "elements (a state_dict needs none of that size)")
            stack.append((depth, elements))
            continue
        for item in opcode.stack_after:
            if item is pickletools.markobject:
                marks.append(len(stack))
            else:
                stack.append((0, 1))


def _pop(stack: list, marks: list, before: list) -> list:
    """Remove what an opcode consumes; returns the (depth, elements) of the popped items."""
    popped, below = [], len(before)
    if pickletools.markobject in before:
        if not marks:
            raise PickleScanError("an opcode needs a MARK that is not on the stack")
        at = marks.pop()
        popped = stack[at:]
        del stack[at:]
        below = before.index(pickletools.markobject)
    if below > len(stack) - (marks[-1] if marks else 0):
        raise PickleScanError("an opcode pops more than the stack holds")
    if below:
        popped += stack[-below:]
        del stack[-below:]
    return popped
