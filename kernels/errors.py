"""The kernels' own error, shared by both builders (g++ for emu, NVRTC for cuda)."""


class KernelCompileError(RuntimeError):
    """A kernel source failed to compile; the message holds the compiler's output."""
