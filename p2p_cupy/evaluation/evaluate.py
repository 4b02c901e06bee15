"""`p2p test`: translate a phase of a data set with a trained generator and score it.

Writes to OUT_DIR: images/NAME_{input,output,target}.png (NAME_EXT_... where two inputs
share a name, p2p_cupy/output_paths.py), index.html (one row per image)
and metrics.json with the mean L1, PSNR and SSIM of output vs target, computed on images
scaled to [0, 1] (per image, then averaged).

The data: a root with PHASE/ (or A/PHASE and B/PHASE), a folder of AB images itself, or
one AB image. Pairs are preprocessed as the run's test setting (the reference's: resized
to the crop size), or kept at their own size (native_size: the reference's --preprocess
none, sides rounded to a multiple of 4), fitted to the generator's stride (any_size.py).

On the built-in synthetic facades (label map -> photo) it adds the paper's FCN-score of
the outputs and, as the reference a perfect generator would reach, of the real photos
(the cached FCN scorer of p2p_cupy/quality labels them, trained first if needed), and the
sharpness ratio: high-frequency energy of the outputs / of the real photos.
"""
from __future__ import annotations

import dataclasses
import html
import json
from pathlib import Path

import numpy as np

from p2p_cupy.data import synthetic
from p2p_cupy.data.loader import iter_test_pairs
from p2p_cupy.evaluation import metrics
from p2p_cupy.evaluation.any_size import Translator
from p2p_cupy.evaluation.inference import check_channels, load_generator, save_image
from p2p_cupy.output_paths import check_output, plan_outputs
from p2p_cupy.safe_files import write_text_atomically
from p2p_cupy.train.build import phase_dataset

KINDS = ("input", "output", "target")


def data_location(data, phase):
    """(root, phase, only): a data root with PHASE/ as given; a folder of AB images is its
    own phase (root = its parent); one AB image is its folder's, that file only."""
    path = Path(data)
    if path.is_file():
        return str(path.parent.parent), path.parent.name, path.stem
    two_folders = (path / "A").is_dir() and (path / "B").is_dir()
    if path.is_dir() and not (path / phase).is_dir() and not two_folders:
        return str(path.parent), path.name, None
    return data, phase, None


def run_test(run_dir, data_root, out_dir, phase="test", eval_mode=False, num_test=None,
             epoch=None, fit_mode="pad", native_size=False, channels=(None, None),
             tile=None) -> dict:
    G, opts = load_generator(run_dir, eval_mode=eval_mode, epoch=epoch)
    check_channels(G, *channels, run_dir)
    if native_size:
        opts = dataclasses.replace(opts, preprocess="none")
    translator = Translator(G, fit_mode, tile)
    root, phase, only = data_location(data_root, phase)
    out_dir = Path(out_dir)
    dataset = phase_dataset(opts, root, phase)
    pairs = range(len(dataset))[:num_test] if only is None else \
        [i for i in range(len(dataset)) if dataset.name(i) == only]
    planned = plan_outputs([dataset.pairs[i][1] for i in pairs], out_dir / "images",
                           [f"{{stem}}_{kind}.png" for kind in KINDS],
                           other_inputs=dataset.files(), away_from_inputs=True)
    outputs = dict(zip(pairs, planned))       # dataset index -> its output files
    for page in ("metrics.json", "index.html"):
        check_output(out_dir / page, dataset.files())
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    scores, names, files = [], [], []     # per translated pair: input file, output files
    quality = _QualityScores.for_run(opts, data_root)
    for index, real_A, real_B in iter_test_pairs(None, phase, opts, dataset=dataset,
                                                 indices=pairs):
        fake_B = translator(real_A, name=dataset.name(index))
        if quality:
            quality.add(real_A, fake_B, real_B)
        for path, img in zip(outputs[index], (real_A, fake_B, real_B)):
            save_image(img, path)
        out01, target01 = (fake_B + 1) / 2, (real_B + 1) / 2
        scores.append((metrics.l1(out01, target01), metrics.psnr(out01, target01),
                       metrics.ssim(out01, target01)))
        names.append(dataset.pairs[index][1].name)
        files.append([p.name for p in outputs[index]])
    if not names:
        where = f" in phase {phase!r}" if only is None else ""
        raise ValueError(f"{data_root}: no usable image pairs{where}")
    mean = np.mean(np.array(scores), axis=0)
    result = {"run": str(run_dir), "data": str(data_root), "phase": phase,
              "eval_mode": eval_mode, "images": len(names), "range": "[0, 1]",
              "l1": float(mean[0]), "psnr": float(mean[1]), "ssim": float(mean[2]),
              "per_image": {n: {"l1": s[0], "psnr": s[1], "ssim": s[2]}
                            for n, s in zip(names, scores)}}
    if quality:
        result.update(quality.result())
    write_text_atomically(out_dir / "metrics.json", json.dumps(result, indent=1))
    write_text_atomically(out_dir / "index.html", _page(result, names, files))
    return result


class _QualityScores:
    """Running FCN-score confusion matrices (outputs and real photos) and high-frequency
    energies of a synthetic-facades test."""

    def __init__(self, scorer):
        from p2p_cupy.quality.scorer import N_CLASSES
        self.scorer = scorer
        self.fake = np.zeros((N_CLASSES, N_CLASSES), np.int64)
        self.real = np.zeros_like(self.fake)
        self.energy = [0.0, 0.0]           # outputs, real photos

    @classmethod
    def for_run(cls, opts, data_root):
        """Scores for a labels -> photo run on the built-in set, else None."""
        version = synthetic.builtin_version(data_root)
        colors = (opts.input_nc, opts.output_nc) == (3, 3)     # label map and photo in RGB
        if version is None or opts.direction != "AtoB" or not colors:
            return None
        from p2p_cupy.quality.scorer import load_or_train_scorer, scorer_size
        return cls(load_or_train_scorer(version, scorer_size(opts.crop_size)))

    def add(self, real_A, fake_B, real_B):
        """One test pair: scored at the scorer's size, sharpness at the run's."""
        from p2p_cupy.quality.scorer import labels_of, resized
        from p2p_cupy.quality.scores import high_frequency_energy
        size = self.scorer.record["size"]
        labels = labels_of(real_A, size)[None]
        self.fake += self.scorer.confusion(resized(fake_B, size)[None], labels)
        self.real += self.scorer.confusion(resized(real_B, size)[None], labels)
        self.energy[0] += high_frequency_energy(fake_B)
        self.energy[1] += high_frequency_energy(real_B)

    def result(self) -> dict:
        from p2p_cupy.quality.scores import fcn_scores
        return {"fcn_score": fcn_scores(self.fake), "fcn_score_real": fcn_scores(self.real),
                "sharpness": self.energy[0] / max(self.energy[1], 1e-12),
                "fcn_scorer": {k: v for k, v in self.scorer.record.items()
                               if k != "real_test"}}


def _page(result, names, files) -> str:
    rows = "\n".join(
        f"<tr><td>{html.escape(n)}</td>" + "".join(
            f'<td><img src="images/{html.escape(f)}" alt="{k}"></td>'
            for k, f in zip(KINDS, row_files))
        + f"<td>L1 {s['l1']:.3f}<br>PSNR {s['psnr']:.2f}<br>SSIM {s['ssim']:.3f}</td></tr>"
        for n, row_files, s in ((n, f, result["per_image"][n]) for n, f in zip(names, files)))
    mode = "eval mode (running statistics, no dropout)" if result["eval_mode"] else \
        "train mode (batch statistics and dropout, as in the paper)"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>p2p test: {html.escape(result['run'])}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
td, th {{ padding: 4px 10px 4px 0; text-align: left; vertical-align: middle; font-size: 14px; }}
img {{ width: 192px; image-rendering: pixelated; border: 1px solid #ccc; }}</style></head><body>
<h1>{html.escape(result['run'])} on {html.escape(result['data'])} ({result['phase']})</h1>
<p>{result['images']} images, generator in {mode}. Mean L1 {result['l1']:.4f},
PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.4f} (images scaled to [0, 1]).
{_quality_line(result)}</p>
<table><tr><th>image</th><th>input</th><th>output</th><th>target</th><th>scores</th></tr>
{rows}</table></body></html>
"""


def _quality_line(result) -> str:
    if "fcn_score" not in result:
        return ""
    f, r = result["fcn_score"], result["fcn_score_real"]
    return (f"<br>FCN-score of the outputs: per-pixel accuracy {f['pixel_acc']:.3f}, per-class "
            f"accuracy {f['class_acc']:.3f}, class IoU {f['class_iou']:.3f} (real photos: "
            f"{r['pixel_acc']:.3f}, {r['class_acc']:.3f}, {r['class_iou']:.3f}); sharpness "
            f"{result['sharpness']:.2f} (high-frequency energy, outputs / real photos)")
