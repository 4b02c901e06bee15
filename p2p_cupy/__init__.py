"""p2p-cupy: pix2pix from scratch, with hand-written backprop on NumPy, CuPy and our own
CUDA kernels (see README.md and docs/)."""
__version__ = "0.1.0"
