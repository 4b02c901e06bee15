"""Gradient checks: the checker (check.py: backward passes against central finite
differences), the named cases of `p2p gradcheck` (cases.py) and the whole-network problems
(networks.py: the U-Net and the PatchGAN end to end)."""
