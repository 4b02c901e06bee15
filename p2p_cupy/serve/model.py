"""The model behind the page: one generator (and the discriminator when the checkpoint has
one) in memory, used by one request at a time.

A translation is the same computation as `p2p translate`: the drawing, read by the
project's image reader, scaled to [-1, 1], through G; with eval=True the batch-norm
running statistics and no dropout (`p2p translate --eval`), else batch statistics and
dropout as in the paper. Requests are serialized by a lock: the device runs one model,
and a module's forward keeps what its backward would need, so two at once would clash.
"""
from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from p2p_cupy import backend
from p2p_cupy.data.images import read_image, to_chw, to_uint8_image
from p2p_cupy.errors import P2PError
from p2p_cupy.evaluation.inference import load_generator
from p2p_cupy.inspection import pictures, probes
from p2p_cupy.ops.concat import concat_forward
from p2p_cupy.serve.palette import classes_for_run
from p2p_cupy.train import checkpoint, expected
from p2p_cupy.train.build import networks_from_options

MAX_SIDE = 1024          # largest drawing or upload side accepted, in pixels


class Upload(io.BytesIO):
    """Request bytes that an error message names as 'the uploaded image'."""

    def __repr__(self):
        return "the uploaded image"

    __str__ = __repr__


def _discriminator(source, opts):
    """D of a run folder or training checkpoint (checked against the architecture before
    its weights are read), or None: converted and .pth models hold G alone."""
    source = Path(source)
    if source.suffix == ".pth":
        return None
    ckpt = checkpoint.CheckpointFile(source if source.is_file()
                                     else checkpoint.latest_checkpoint(source))
    if "D" not in ckpt.tree:
        return None
    _, D = networks_from_options(opts)          # built as the training builds it
    return D.load_state_dict(ckpt.load({"D": expected.module_spec(D)})["D"])


class ServedModel:
    """G (+ D) of a checkpoint, translating one drawing at a time."""

    def __init__(self, source, classes_file=None):
        self.source = str(source)
        # Requests run in the server's threads: the backend is held here, not looked up
        # there (a thread does not inherit the caller's current backend).
        self.backend = backend.current()
        self.G, self.opts = load_generator(source)
        self.D = _discriminator(source, self.opts)
        # Only a training checkpoint knows its data set; a converted or .pth generator's
        # options are defaults, so its palette must come from --classes.
        trained_here = self.D is not None
        self.classes = classes_for_run(self.opts.dataroot if trained_here else None,
                                       classes_file)
        self.multiple = 2 ** self.G.num_downs
        self.size = max(self.multiple, int(getattr(self.opts, "crop_size", 256)))
        self.lock = threading.Lock()

    def info(self) -> dict:
        """What the page needs to set itself up."""
        return {"source": self.source, "netG": self.opts.netG, "ngf": self.opts.ngf,
                "size": self.size, "multiple": self.multiple, "max_side": MAX_SIDE,
                "input_nc": self.G.input_nc, "output_nc": self.G.output_nc,
                "has_discriminator": self.D is not None, "classes": self.classes,
                "mode": "labels" if self.classes else "sketch"}

    def read_drawing(self, data: bytes) -> np.ndarray:
        """PNG/JPEG bytes -> (1, C, H, W) in [-1, 1], checked against what G accepts."""
        image = read_image(Upload(data), channels=self.G.input_nc)
        w, h = image.size
        if w > MAX_SIDE or h > MAX_SIDE or w % self.multiple or h % self.multiple:
            raise P2PError(f"the uploaded image is {w}x{h}; this model takes widths and "
                           f"heights that are multiples of {self.multiple}, at most "
                           f"{MAX_SIDE} (the page draws at {self.size}x{self.size})")
        return to_chw(image)[None]

    def translate(self, data: bytes, eval_mode: bool = True, inside: bool = False) -> dict:
        """The output of G for a drawing, as PNG bytes, with the milliseconds it took; with
        inside=True also D's patch map over the output and G's activation statistics."""
        x_host = self.read_drawing(data)
        with self.lock, backend.using(self.backend) as bk:
            self.G.train(not eval_mode)
            x = bk.asarray(x_host)
            start = time.perf_counter()
            if inside:
                y, stats, _ = probes.run_recording(self.G, x)
            else:
                y = self.G.forward(x)
            y_host = bk.to_numpy(y)
            elapsed_ms = (time.perf_counter() - start) * 1e3
            result = {"image": _png(to_uint8_image(y_host[0])), "ms": elapsed_ms,
                      "eval": eval_mode}
            if inside:
                result["activations"] = [s.as_dict() for s in stats]
                if self.D is not None:
                    self.D.train(not eval_mode)
                    logits = self.D.forward(concat_forward([x, y])[0])
                    prob = probes.patch_probability(logits, self.opts.gan_mode)[0]
                    result["patch_map"] = _png(
                        pictures.heat_overlay(to_uint8_image(y_host[0]), prob))
                    result["patch_mean_real"] = float(prob.mean())
        return result


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()
