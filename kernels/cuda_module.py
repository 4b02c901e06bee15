"""The cuda side of kernels/loader.py: compile a .cu file with NVRTC through cupy.RawModule.

Imported only when the cuda backend is used, so that importing the loader never needs CuPy.
"""
from __future__ import annotations

import cupy

from .errors import KernelCompileError


def build(path, signatures, options, digest):
    """A function name -> CudaKernel for the kernels of `path`.

    The source starts with its content hash (CuPy caches by source text only, so a changed
    header must change the text) and a #line directive, so NVRTC's messages name the file.
    """
    code = f"// p2p_cupy content hash {digest}\n#line 1 \"{path}\"\n{path.read_text()}"
    module = cupy.RawModule(code=code, options=tuple(options))

    def kernel(name):
        try:
            function = module.get_function(name)
        except cupy.cuda.compiler.CompileException as e:
            raise KernelCompileError(f"NVRTC failed to compile {path}:\n{e.get_message()}") from None
        return CudaKernel(function, signatures[name], path)

    return kernel


class CudaKernel:
    """cupy's RawModule function, with the launch arguments checked against the signature."""

    def __init__(self, function, signature, path):
        self.function = function
        self.signature = signature
        self.where = f"kernel {signature.name} ({path.name})"

    @property
    def max_dynamic_shared_size_bytes(self):
        return self.function.max_dynamic_shared_size_bytes

    @max_dynamic_shared_size_bytes.setter
    def max_dynamic_shared_size_bytes(self, value):
        self.function.max_dynamic_shared_size_bytes = value

    def __call__(self, grid, block, args, shared_mem=0):
        self.signature.check_args(args, self.where, cupy.ndarray)
        self.function(grid, block, tuple(args), shared_mem=shared_mem)
