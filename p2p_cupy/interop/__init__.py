"""Interoperability with PyTorch pix2pix: read its checkpoints (no torch needed) and map
its parameter names onto our models."""
