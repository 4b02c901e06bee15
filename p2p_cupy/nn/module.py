"""Module: a layer holding parameters, buffers and the cache of its last forward.

The contract (docs/DESIGN.md, "The op contract"), in module form:

    y  = m.forward(x)      # keeps in m only what backward needs
    dx = m.backward(dy)    # uses that cache; parameter grads ACCUMULATE (+=),
                           # the returned input grad is ASSIGNED (a new array)

A module is used as forward/backward pairs: a second forward overwrites the cache, so
backward the first pass before running the next one (pix2pix's D does exactly that for
its fake and real passes). `requires_grad = False` (see `freeze`) skips the parameter
gradients, e.g. for D during the generator's step; the input gradient is still returned.

Watching: `add_forward_hook(hook)` calls hook(module, x, y) after each forward of a module
until the returned handle is removed; a module without hooks runs exactly as written.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from p2p_cupy import backend
from p2p_cupy.errors import some_of


class Parameter:
    """A trainable array and its gradient (same shape, dtype and backend).

    `zeroed` is True from zero_grad until the first gradient lands: an op may then write
    the gradient straight into `grad` (a GEMM with beta = 0, a reduction kernel's output)
    instead of computing it elsewhere and adding it, which saves a launch and gives the
    same values (0 + g = g)."""

    __slots__ = ("data", "_grad", "zeroed")

    def __init__(self, data):
        self.data = data
        self._grad = None
        self.zeroed = False

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad, self.zeroed = value, False

    def zero_grad(self):
        if self._grad is None:
            self._grad = backend.of(self.data).xp.zeros_like(self.data)
        else:
            backend.of(self._grad).fill(self._grad, 0)
        self.zeroed = True

    def accumulate(self, g):
        """grad += g (parameter gradients accumulate across backward calls)."""
        if self._grad is None:
            self._grad = g.astype(self.data.dtype, copy=True)
        else:
            self._grad += g
        self.zeroed = False

    def gradient_target(self):
        """(grad, zeroed) for an op that adds its gradient into `grad` itself (or writes
        it there when zeroed); the gradient counts as written afterwards."""
        if self._grad is None:
            self.zero_grad()
        zeroed, self.zeroed = self.zeroed, False
        return self._grad, zeroed

    def __repr__(self):
        return f"Parameter(shape={tuple(self.data.shape)}, dtype={self.data.dtype})"


class Module:
    """Base class: named parameters, named buffers, child modules, train/eval state."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        self.training = True
        self.requires_grad = True

    # --- registration -------------------------------------------------------------
    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def set_buffer(self, name, array):
        """Add or replace a buffer: a non-trained array saved in state_dict (e.g. BatchNorm's
        running mean); the attribute and the state_dict entry stay in step."""
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    # --- the contract ------------------------------------------------------------
    def forward(self, x):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def forward_into(self, x, out):
        """forward, with the output written into the caller's array `out` (a planned
        buffer: the U-Net's concat halves) and returned. Layers whose op can write there
        directly override this; here the output is copied."""
        backend.of(out).copy(out, self.forward(x))
        return out

    def backward_without_input_grad(self, dy):
        """backward for an input that needs no gradient (the data pairs of the D step, A
        into G): parameter gradients accumulate as usual, None is returned. Modules whose
        input gradient costs real work (the conv layers, Sequential, the U-Net) skip it;
        others compute it and drop it."""
        self.backward(dy)
        return None

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # --- watching ------------------------------------------------------------------
    def add_forward_hook(self, hook) -> "ForwardHook":
        """Call hook(module, x, y) after every forward (or forward_into, which writes into a
        planned buffer) of this module, whoever calls it, until the returned handle's
        remove(). The first hook routes this object's forward and forward_into through the
        hooks (attributes shadowing the class's methods); removing the last one takes them
        away again, so nothing of the model changes."""
        hooks = self.__dict__.setdefault("_forward_hooks", [])
        if not hooks:
            depth = [0]    # forward and forward_into may call each other: the outer call reports

            def watched(method):
                def run(x, *rest):
                    depth[0] += 1
                    try:
                        y = method(self, x, *rest)
                    finally:
                        depth[0] -= 1
                    if depth[0] == 0:
                        for watch in list(self._forward_hooks):
                            watch(self, x, y)
                    return y
                return run
            for name in _WATCHED:
                object.__setattr__(self, name, watched(getattr(type(self), name)))
        hooks.append(hook)
        return ForwardHook(self, hook)

    # --- traversal ---------------------------------------------------------------
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_leaves(self, prefix=""):
        """(name, module) of every module without children (the layers that compute)."""
        return [(name, m) for name, m in self.named_modules(prefix) if not m._modules]

    def named_parameters(self, prefix=""):
        for mod_name, mod in self.named_modules(prefix):
            for name, p in mod._parameters.items():
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        for mod_name, mod in self.named_modules(prefix):
            for name, b in mod._buffers.items():
                yield (f"{mod_name}.{name}" if mod_name else name), mod, name, b

    def num_parameters(self) -> int:
        return int(sum(p.data.size for p in self.parameters()))

    # --- state -------------------------------------------------------------------
    def train(self, mode: bool = True):
        for _, m in self.named_modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def freeze(self, frozen: bool = True):
        """Stop (or restart) computing parameter gradients in this module and below."""
        for _, m in self.named_modules():
            m.requires_grad = not frozen
        return self

    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Host (numpy) copies of every parameter and buffer, by dotted name."""
        out = OrderedDict()
        for name, p in self.named_parameters():
            out[name] = backend.of(p.data).to_numpy(p.data).copy()
        for name, _, _, b in self.named_buffers():
            out[name] = backend.of(b).to_numpy(b).copy()
        return out

    def load_state_dict(self, state, strict: bool = True):
        """Copy arrays into parameters and buffers, in place (each stays on its backend,
        and the optimizer's flat buffer and a captured step keep it); names and shapes
        must match."""
        params = dict(self.named_parameters())
        buffers = {name: (mod, short) for name, mod, short, _ in self.named_buffers()}
        missing = [k for k in list(params) + list(buffers) if k not in state]
        unexpected = [k for k in state if k not in params and k not in buffers]
        if strict and (missing or unexpected):
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing keys "
                           f"{some_of(missing)}; unexpected keys {some_of(unexpected)}")
        for name, value in state.items():
            if name in params:
                p = params[name]
                if tuple(np.shape(value)) != tuple(p.data.shape):
                    raise ValueError(f"{name}: checkpoint shape {tuple(np.shape(value))} "
                                     f"!= model shape {tuple(p.data.shape)}")
                p.data[...] = backend.of(p.data).asarray(value, dtype=p.data.dtype)
                p.grad = None
            elif name in buffers:
                mod, short = buffers[name]
                old = mod._buffers[short]
                if tuple(np.shape(value)) != tuple(np.shape(old)):
                    raise ValueError(f"{name}: checkpoint shape {tuple(np.shape(value))} "
                                     f"!= model shape {tuple(np.shape(old))}")
                old[...] = backend.of(old).asarray(value, dtype=old.dtype)
        return self

    def apply_arrays(self, fn):
        """Replace every parameter and floating buffer array by fn(array); grads dropped."""
        for p in self.parameters():
            p.data = fn(p.data)
            p.grad = None
        for _, mod, short, b in list(self.named_buffers()):
            if np.dtype(b.dtype).kind == "f":
                mod.set_buffer(short, fn(b))
        return self

    def astype(self, dtype):
        """Cast parameters and floating buffers (float64 for gradient checks)."""
        return self.apply_arrays(lambda a: a.astype(dtype))

    def to_backend(self, bk=None):
        """Move parameters and buffers onto a backend (the current one by default)."""
        bk = bk or backend.current()
        for p in self.parameters():
            p.data = bk.asarray(p.data)
            p.grad = None
        for _, mod, short, b in list(self.named_buffers()):
            mod.set_buffer(short, bk.asarray(b))
        return self


_WATCHED = ("forward", "forward_into")   # the methods a forward hook watches


class ForwardHook:
    """The handle of Module.add_forward_hook."""

    def __init__(self, module, hook):
        self.module, self.hook = module, hook

    def remove(self):
        hooks = self.module._forward_hooks
        hooks.remove(self.hook)
        if not hooks:
            for name in _WATCHED:
                del self.module.__dict__[name]


class Sequential(Module):
    """Children run in order; backward runs them in reverse."""

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)

    def __iter__(self):
        return iter(self._modules.values())

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def forward(self, x):
        for layer in self._modules.values():
            x = layer.forward(x)
        return x

    def forward_into(self, x, out):
        *earlier, last = self._modules.values()
        for layer in earlier:
            x = layer.forward(x)
        return last.forward_into(x, out)

    def backward(self, dy):
        for layer in reversed(self._modules.values()):
            dy = layer.backward(dy)
        return dy

    def backward_without_input_grad(self, dy):
        """Layers in front of the first one with parameters (a ResNet's input padding) only
        pass the gradient on toward the input, which needs none: they are skipped. That
        first layer gets backward_without_input_grad, the later ones backward."""
        layers = list(self._modules.values())
        first = next((i for i, layer in enumerate(layers) if layer.parameters()), 0)
        for layer in reversed(layers[first + 1:]):
            dy = layer.backward(dy)
        return layers[first].backward_without_input_grad(dy)
