"""`p2p bench quality`: the paper's ablations, reproduced on synthetic facades v2 at CPU scale.

Every configuration is a `p2p train` run from the same seed (the options below plus its
own changes), scored by `p2p test` on the test split: L1, PSNR, SSIM, the FCN-score of the
outputs, and the sharpness ratio. The FCN scorer's score on the real test photos is the
"ground truth" row.

The scale (the paper: 256 px crops of 286 px images, ngf = ndf = 64, 200 epochs): 128 px
crops of 142 px images, unet_128 (down to 1x1, as unet_256 at 256 px) with ngf = ndf = 16,
batch 1, Adam 2e-4 / 0.5, a fixed 5000 steps (12.5 epochs of the 400 training pairs), no
learning-rate decay. The whole table has to finish in about 40 minutes on a 2-core CPU.
Step times, idle, interleaved, OpenBLAS on one thread (one process per core), L1+cGAN:
64 px ngf 16 27 ms, 128 px ngf 8 30 ms, 128 px ngf 16 61 ms (in training, with the data
loading, 128 px ngf 16 ran at 16-17 steps a second). We chose 128 px (U-Net and PatchGAN
one level short of the paper's, and textures a few pixels wide) and ngf 16 from a first
measurement taken under load that put ngf 8 only 1.4x faster; idle it is 2x faster, so the same budget would train
ngf 8 for 10000 steps (a check of the three loss rows at that scale: README.md, Image
quality). The committed table was trained by two `--train-only` processes (disjoint
--only sets, each on one core) and then scored by one run without them;
benchmarks/RESULTS.md gives the command, README.md the summed and the wall times.

Receptive fields, scaled with the crop (patch_layers): the paper's PatchGANs see 1, 16, 70
and 286 pixels of a 256 px image. At 128 px we take the PatchGAN whose receptive field is
nearest to the same fraction of the crop: 70 -> 34 px (n_layers 2, the baseline of every
row) and 286 -> 142 px (n_layers 4, the whole crop as 286 covers 256); 16 stays 16 px
(n_layers 1, the smallest PatchGAN: an eighth of the crop where the paper's is a
sixteenth); 1x1 is the pixel discriminator.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from p2p_cupy.safe_files import write_png_atomically
from p2p_cupy.train import checkpoint

# Per-pixel accuracy of the paper's FCN-score on Cityscapes labels -> photo (its Tables 1-3).
PAPER_GROUND_TRUTH = 0.80

# netG is completed with the crop size (unet -> unet_128); n_layers_D is each row's
# PatchGAN scaled to the crop (patch_layers).
SCALE = dict(dataroot="synthetic-facades-v2", netG="unet", ngf=16, ndf=16,
             netD="n_layers", load_size=142, crop_size=128, batch_size=1,
             lr=2e-4, beta1=0.5, device="cpu")
STEPS = 5000


def load_size_for(crop_size: int) -> int:
    """The load size of a crop (the paper's 286 / 256, rounded down: 128 -> 142)."""
    return crop_size + crop_size // 9


def patch_layers(paper_field: int, crop_size: int) -> int:
    """n_layers of the PatchGAN whose receptive field (9 * 2^n - 2: 16, 34, 70, 142, 286)
    is nearest, by ratio, to the paper's `paper_field` pixels of a 256 px image scaled to
    the crop (at 128 px: 16 -> 16, 70 -> 34, 286 -> 142)."""
    target = paper_field * crop_size / 256
    return min(range(1, 6), key=lambda n: abs(np.log((9 * 2 ** n - 2) / target)))


@dataclasses.dataclass(frozen=True)
class Config:
    key: str                 # run name and file name
    group: str               # which ablation table it belongs to
    label: str
    paper: float | None      # the paper's per-pixel accuracy for it
    overrides: tuple = ()    # (option, value) pairs changed from SCALE
    seed: int = 0
    patch: int | None = 70   # the paper's PatchGAN receptive field (None: 1x1, netD pixel)


def configs(second_seed=True) -> list:
    """The table's rows in the order they are trained (the most telling first)."""
    rows = [
        Config("l1_cgan", "loss", "L1+cGAN", 0.66),
        Config("l1", "loss", "L1", 0.42, (("lambda_gan", 0.0),)),
        Config("cgan", "loss", "cGAN", 0.57, (("lambda_l1", 0.0),)),
        Config("l1_gan", "loss", "L1+GAN (unconditional D)", 0.64, (("unconditional_D", True),)),
        Config("encoder_decoder", "generator", "encoder-decoder (L1+cGAN)", 0.29,
               (("netG", "encoder_decoder"),)),
        Config("patch_1", "discriminator", "PatchGAN 1x1 (pixel)", 0.39, (("netD", "pixel"),),
               patch=None),
        Config("patch_16", "discriminator", "PatchGAN \"16x16\"", 0.65, patch=16),
        Config("patch_286", "discriminator", "PatchGAN \"286x286\"", 0.42, patch=286),
    ]
    if second_seed:
        rows += [dataclasses.replace(c, key=c.key + "_seed1", seed=1)
                 for c in rows if c.key in ("l1_cgan", "l1", "cgan")]
    return rows


def options_for(config: Config, steps: int, work_dir, **changes):
    from p2p_cupy.train.options import TrainOptions
    values = {**SCALE, **changes, **dict(config.overrides)}
    values["netG"] = f"{values['netG']}_{values['crop_size']}"
    if config.patch is not None:
        values["n_layers_D"] = patch_layers(config.patch, values["crop_size"])
    return TrainOptions(**values, name=config.key, out=str(work_dir), seed=config.seed,
                        max_steps=steps, print_freq=100, sample_freq=max(1, steps // 2),
                        save_latest_freq=steps)


def receptive_field(config: Config, crop_size: int) -> int:
    """Pixels one logit of this configuration's D sees."""
    return 1 if config.patch is None else 9 * 2 ** patch_layers(config.patch, crop_size) - 2


def train_and_score(config: Config, steps: int, work_dir, n_test=None, log=None,
                    train_only=False, **changes):
    """Train one configuration (continuing a shorter run of it, skipping a finished one),
    then `p2p test` it (unless train_only); returns its row of the table."""
    from p2p_cupy.evaluation.evaluate import run_test
    from p2p_cupy.train.run import start_or_resume
    log = log or sys.stderr
    opts = options_for(config, steps, work_dir, **changes)
    run_dir = Path(work_dir) / config.key
    latest = checkpoint.checkpoint_dir(run_dir) / "latest.npz"
    done = checkpoint.load_checkpoint(latest)["step"] if latest.exists() else 0
    if done < steps:
        resume = str(run_dir) if done else None
        code = start_or_resume(opts, {"max_steps": steps} if done else {}, resume, out=log)
        if code != 0:
            raise RuntimeError(f"quality bench: training {config.key} stopped with exit code "
                               f"{code} (see {run_dir})")
    if train_only:
        return None
    trained_s = checkpoint.load_checkpoint(latest)["trained_s"]
    metrics = run_dir / "test" / "metrics.json"
    if metrics.exists() and metrics.stat().st_mtime > latest.stat().st_mtime and \
            n_test in (None, json.loads(metrics.read_text())["images"]):
        result = json.loads(metrics.read_text())      # scored after the last training
    else:
        result = run_test(run_dir, opts.dataroot, run_dir / "test", num_test=n_test)
    return {"key": config.key, "group": config.group, "label": config.label,
            "paper_pixel_acc": config.paper, "seed": config.seed,
            "options": dict(config.overrides), "steps": steps,
            "receptive_field": receptive_field(config, opts.crop_size),
            "train_seconds": round(trained_s, 1),
            **{k: result[k] for k in ("images", "l1", "psnr", "ssim", "fcn_score",
                                      "sharpness")},
            "fcn_score_real": result["fcn_score_real"], "fcn_scorer": result["fcn_scorer"],
            # per_image is keyed by file name; p2p test's images are STEM_KIND.png (the
            # built-in set's names are unique, so none gets an extension suffix)
            "sample_names": [Path(n).stem for n in list(result["per_image"])[:4]]}


def sample_grid(run_test_dir, names, upscale=2) -> np.ndarray:
    """input | output | target rows of the named test images, from `p2p test`'s files."""
    rows = []
    for name in names:
        cells = [np.asarray(Image.open(Path(run_test_dir) / "images" / f"{name}_{kind}.png")
                            .convert("RGB")) for kind in ("input", "output", "target")]
        rows.append(np.concatenate(cells, axis=1))
    grid = np.concatenate(rows, axis=0)
    return grid.repeat(upscale, axis=0).repeat(upscale, axis=1)


def overview(rows, work_dir, names, upscale=2) -> Image.Image:
    """One figure: a row of outputs per configuration, under the inputs, over the targets."""
    first = Path(work_dir) / rows[0]["key"] / "test" / "images"

    def strip(folder, kind):
        cells = [np.asarray(Image.open(folder / f"{n}_{kind}.png").convert("RGB"))
                 for n in names]
        return np.concatenate(cells, axis=1).repeat(upscale, 0).repeat(upscale, 1)

    strips = [("label map (input)", strip(first, "input"))]
    strips += [(r["label"], strip(Path(work_dir) / r["key"] / "test" / "images", "output"))
               for r in rows]
    strips.append(("real photo (target)", strip(first, "target")))
    text_w, pad = 260, 4
    height = sum(s.shape[0] + pad for _, s in strips)
    canvas = Image.new("RGB", (text_w + strips[0][1].shape[1], height), "white")
    draw, y = ImageDraw.Draw(canvas), 0
    for label, img in strips:
        canvas.paste(Image.fromarray(img), (text_w, y))
        draw.text((6, y + img.shape[0] // 2 - 6), label, fill="black")
        y += img.shape[0] + pad
    return canvas


def small_png(image: Image.Image) -> Image.Image:
    """The figure in 256 colors (median cut): a third of the bytes of RGB for docs/."""
    return image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)


def run_table(steps=STEPS, work_dir="runs/quality", docs_dir=None, second_seed=True,
              only=None, n_test=None, log=None, train_only=False, **changes):
    """Train and score every configuration (or those whose key is in `only`); returns the
    record (rows, ground truth, scale), or None with train_only (several processes can
    train disjoint configurations, then one scores them all). With docs_dir, writes each
    configuration's sample grid (DOCS/quality_<key>.png) and the overview
    (DOCS/quality_ablation.png)."""
    from p2p_cupy.bench import machine
    from p2p_cupy import backend
    log = log or sys.stderr
    rows = []
    chosen = [c for c in configs(second_seed) if only is None or c.key in only]
    started = time.perf_counter()
    for i, config in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {config.label} (seed {config.seed}), {steps} steps",
              file=log, flush=True)
        rows.append(train_and_score(config, steps, work_dir, n_test, log, train_only,
                                    **changes))
        if train_only:
            continue
        print(f"  {json.dumps({k: rows[-1][k] for k in ('fcn_score', 'sharpness', 'l1')})}",
              file=log, flush=True)
    if train_only:
        return None
    record = {"kind": "quality", "device": backend.current().name,
              "scale": {**SCALE, **changes, "steps": steps,
                        "netG": options_for(chosen[0], steps, work_dir, **changes).netG},
              "ground_truth": {"label": "ground truth (real test photos)",
                               "paper_pixel_acc": PAPER_GROUND_TRUTH,
                               **rows[0]["fcn_score_real"]},
              "fcn_scorer": rows[0]["fcn_scorer"], "rows": rows,
              "wall_seconds": round(time.perf_counter() - started, 1),
              "machine": machine.info(backend.current())}
    if docs_dir is not None:
        sample_names = rows[0]["sample_names"]       # the same test pairs in every figure
        upscale = max(1, 128 // record["scale"]["crop_size"])   # small crops shown larger
        docs_dir = Path(docs_dir)
        docs_dir.mkdir(parents=True, exist_ok=True)
        for r in rows:
            grid = sample_grid(Path(work_dir) / r["key"] / "test", sample_names[:3], upscale)
            write_png_atomically(docs_dir / f"quality_{r['key']}.png",
                                 small_png(Image.fromarray(grid)))
        write_png_atomically(docs_dir / "quality_ablation.png",
                             small_png(overview([r for r in rows if r["seed"] == 0], work_dir,
                                                sample_names, upscale)))
    return record


def _pct(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def table_lines(record) -> list:
    """Markdown rows of a quality record: ours next to the paper's per-pixel accuracy."""
    head = ["| group | configuration | seed | paper per-pixel acc. (Cityscapes) | per-pixel acc. "
            "| per-class acc. | class IoU | sharpness (HF energy / real) | L1 | PSNR | SSIM |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    g = record["ground_truth"]
    lines = [f"| - | {g['label']} | - | {_pct(g['paper_pixel_acc'])} | {g['pixel_acc']:.3f} "
             f"| {g['class_acc']:.3f} | {g['class_iou']:.3f} | 1 | - | - | - |"]
    for r in record["rows"]:
        f = r["fcn_score"]
        label = r["label"]
        if r["group"] == "discriminator" and "receptive_field" in r:
            label += f": {r['receptive_field']} px"
        lines.append(f"| {r['group']} | {label} | {r['seed']} | {_pct(r['paper_pixel_acc'])} "
                     f"| {f['pixel_acc']:.3f} | {f['class_acc']:.3f} | {f['class_iou']:.3f} "
                     f"| {r['sharpness']:.2f} | {r['l1']:.3f} | {r['psnr']:.1f} "
                     f"| {r['ssim']:.3f} |")
    return head + lines
