"""ReflectionPad2d around p2p_cupy.ops.pad, and Identity (a placeholder that keeps a
Sequential's indices where the reference has a layer doing nothing, e.g. norm 'none')."""
from __future__ import annotations

from p2p_cupy.nn.module import Module
from p2p_cupy.ops.pad import reflection_pad2d_backward, reflection_pad2d_forward


class ReflectionPad2d(Module):
    """Mirror `padding` pixels on every side, without repeating the edge (PyTorch's)."""

    def __init__(self, padding: int):
        super().__init__()
        self.padding = int(padding)
        self._cache = None

    def forward(self, x):
        y, self._cache = reflection_pad2d_forward(x, self.padding)
        return y

    def backward(self, dy):
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        return reflection_pad2d_backward(dy, self._cache)

    def __repr__(self):
        return f"ReflectionPad2d({self.padding})"


class Identity(Module):
    def forward(self, x):
        return x

    def backward(self, dy):
        return dy

    def __repr__(self):
        return "Identity()"
