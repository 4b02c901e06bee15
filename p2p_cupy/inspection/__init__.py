"""Looking inside: the model's cost and shapes (cost.py); measurements inside running
networks (probes.py) and their pictures (pictures.py); a trained run on one pair
(activations.py); watching training (training_probe.py); the CUDA kernels (kernels.py)."""
