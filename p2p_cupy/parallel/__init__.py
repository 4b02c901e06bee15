"""Data-parallel training across processes: MPI starts them and carries small host data,
NCCL (or MPI on the CPU) averages the gradients. See docs/SCALING.md."""
