"""The CPU emulator of CUDA's execution model (the emu backend)."""
