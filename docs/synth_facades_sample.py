"""Writes docs/synth_facades_sample.png: one label map of the built-in synthetic facades
(v2) and three of its renderings, drawn with different random materials and light: the
ambiguity an L1 loss alone can only average.

    python docs/synth_facades_sample.py
"""
from pathlib import Path

import numpy as np
from PIL import Image

from p2p_cupy.data import synthetic, synthetic_v2

SIZE, GAP = 256, 8


def main():
    labels, boxes = synthetic_v2.layout(SIZE, np.random.default_rng([0, 0, 5]))
    cells = [synthetic.LABEL_COLORS[labels]]
    cells += [synthetic_v2.render(labels, boxes, np.random.default_rng(seed))
              for seed in (4, 7, 9)]
    gap = np.full((SIZE, GAP, 3), 255, np.uint8)
    row = np.concatenate([x for cell in cells for x in (cell, gap)][:-1], axis=1)
    out = Path(__file__).with_suffix(".png")
    Image.fromarray(row).save(out, optimize=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
