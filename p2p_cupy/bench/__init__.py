"""Benchmarks: our training iteration, inference and layers, timed next to PyTorch's."""
