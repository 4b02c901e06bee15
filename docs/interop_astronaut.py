"""Makes docs/interop_astronaut.png: a PyTorch pix2pix generator, converted by `p2p convert`,
gives the same picture in p2p-cupy as in PyTorch.

No official pretrained model can be downloaded here, so the PyTorch side trains one: the
reference unet_256 (p2p_cupy/bench/torch_reference.py, ngf 64, no dropout) learns for 80 L1
steps to colourise scikit-image's astronaut (gray 256x256 in, colour out), is
saved with torch.save as the reference implementation saves latest_net_G.pth, converted
to .npz (torch-free reader) and run by both frameworks in pix2pix's test mode (batch
statistics). Needs torch and scikit-image (neither is a dependency of p2p-cupy):

    python docs/interop_astronaut.py [--steps 80]    (measured: max |diff| 1.6e-6)
"""
import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data

from p2p_cupy.bench import torch_reference as R
from p2p_cupy.data.images import to_uint8_image
from p2p_cupy.evaluation import inference
from p2p_cupy.interop.convert import convert_checkpoint
from p2p_cupy.train import checkpoint
from p2p_cupy.train.build import networks_from_options
from p2p_cupy.train.options import TrainOptions

ROOT = Path(__file__).resolve().parents[1]


def astronaut_pair():
    """(gray input, colour target) as (1, 3, 256, 256) float32 in [-1, 1]."""
    rgb = np.asarray(Image.fromarray(data.astronaut()).resize((256, 256), Image.BICUBIC))
    gray = np.repeat(np.asarray(Image.fromarray(rgb).convert("L"))[..., None], 3, axis=2)
    to_tensor = lambda img: (img.transpose(2, 0, 1)[None] / 127.5 - 1).astype(np.float32)
    return to_tensor(gray), to_tensor(rgb)


def train_torch_generator(A, B, steps):
    G = R.build(seed=0, num_downs=8, ngf=64, use_dropout=False)[0]
    opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    tA, tB = torch.from_numpy(A), torch.from_numpy(B)
    for step in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.l1_loss(G(tA), tB)
        loss.backward()
        opt.step()
        if step % 10 == 0:
            print(f"step {step}: L1 {loss.item():.4f}")
    return G


def heat(diff, scale):
    """|difference| as an image: black 0, white >= scale."""
    v = np.clip(diff.max(axis=0) / scale, 0, 1)
    return (np.stack([v] * 3, axis=-1) * 255).astype(np.uint8)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--out", default=str(ROOT / "docs" / "interop_astronaut.png"))
    args = parser.parse_args()
    A, B = astronaut_pair()
    tG = train_torch_generator(A, B, args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        pth, npz = Path(tmp) / "latest_net_G.pth", Path(tmp) / "astronaut.npz"
        torch.save(tG.state_dict(), pth)
        print(convert_checkpoint(pth, npz, use_dropout=False))
        state = checkpoint.load_checkpoint(npz)
    G, _ = networks_from_options(TrainOptions.from_dict(state["options"]))
    G.load_state_dict(state["G"])
    with torch.no_grad():                          # test mode of pix2pix: batch statistics
        expected = tG.train()(torch.from_numpy(A)).numpy()[0]
    ours = inference.translate(G.train(), A)[0]
    diff = np.abs(ours - expected)
    print(f"max |ours - torch| = {diff.max():.2e}, mean {diff.mean():.2e} (outputs in [-1, 1])")
    panels = [to_uint8_image(A[0]), to_uint8_image(expected), to_uint8_image(ours),
              heat(diff, 1e-5)]
    Image.fromarray(np.concatenate(panels, axis=1)).save(args.out)
    print(f"wrote {args.out}: input | PyTorch | p2p-cupy | |diff| (white = 1e-5)")


if __name__ == "__main__":
    main()
