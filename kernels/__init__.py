"""CUDA C sources (*.cu, *.cuh), their loader and the CPU emulator (installed as p2p_cupy.kernels)."""
