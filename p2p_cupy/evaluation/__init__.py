"""Using trained generators: load one (from a run, a checkpoint or a PyTorch .pth) and
translate images (inference.py), score a data set's phase (evaluate.py, `p2p test`) with
L1, PSNR and SSIM (metrics.py). Above interop: a PyTorch generator is read through it."""
