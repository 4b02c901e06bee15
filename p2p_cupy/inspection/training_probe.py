"""Watching a GAN train (`p2p train --inspect-freq N`): every N steps, what one training
iteration did inside the networks goes into the run's report.

    inspect/log.jsonl              one JSON record per inspected step: D's accuracy on real
                                   and fake patches, its patch map on the latest sample
                                   (batch mean) and that map's mean, and for every G and D
                                   layer with parameters [name, op, ||grad||, ||weights||]
    inspect/patchmap_STEP.png      the latest sample G(A), and D's patch map (averaged over
                                   the batch) as a heat map over it

Nothing is recomputed: D's outputs are recorded while train_step runs (its last layer is
watched), and the gradient norms are those the step leaves in the parameters. In train_step
D runs three times: fake then real for the D step, then fake again (after D's update) for
G's step. Accuracy is that of the D step's two passes; the patch map is the third pass,
what G was trained against.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
from PIL import Image

from p2p_cupy import backend
from p2p_cupy.data.images import to_uint8_image
from p2p_cupy.inspection import pictures, probes
from p2p_cupy.inspection.cost import watching_leaves
from p2p_cupy.safe_files import naming, replace_atomically
from p2p_cupy.train.report import loss_chart

CHARTED = ("D_acc_real", "D_acc_fake", "patch_mean_fake")
GRAD_FIELDS = ("layer", "op", "grad_norm", "weight_norm")


def inspect_step(G, D, run_step, gan_mode="vanilla"):
    """(run_step()'s result, the record of that step). run_step: a function running one
    train_step on G and D and returning (losses, fake_B)."""
    last = probes.leaf_names(D)[-1]
    outputs = []

    def keep_logits(name, layer, inp, out):
        if name == last:
            outputs.append(out)

    with watching_leaves(D, keep_logits):
        losses, fake_B = run_step()
    if len(outputs) != 3:
        raise RuntimeError(f"inspect_step: expected 3 discriminator passes in a training "
                           f"step, saw {len(outputs)}")
    on_fake, on_real, on_fake_after = (probes.patch_probability(o, gan_mode) for o in outputs)
    mean_map = on_fake_after.mean(axis=0)
    record = {**probes.patch_accuracy(on_real, on_fake),
              "patch_mean_fake": float(mean_map.mean()), "patch_map": mean_map.tolist(),
              "grad_G": probes.layer_grad_norms(G), "grad_D": probes.layer_grad_norms(D)}
    return (losses, fake_B), record


class TrainingProbe:
    """The Trainer's observer for --inspect-freq N (p2p_cupy/train/loop.py): every N steps
    it watches the step (inspect_step) and adds the record to the run's InspectionLog;
    its html_section goes into the run's index.html."""

    def __init__(self, run_dir, every: int, gan_mode: str = "vanilla"):
        self.log, self.every, self.gan_mode = InspectionLog(run_dir), every, gan_mode

    def observe_step(self, step: int, G, D, run_step):
        if not self.every or step % self.every:
            return run_step()
        (losses, fake_B), record = inspect_step(G, D, run_step, self.gan_mode)
        self.log.add(step, record, backend.of(fake_B).to_numpy(fake_B))
        return losses, fake_B

    def html_section(self) -> str:
        return self.log.html_section()


def training_probe(opts, run_dir) -> TrainingProbe:
    """The observer of a run with these options (start_or_resume's `observe`)."""
    # the probe watches D's three passes: nothing to watch when L1 trains alone
    return TrainingProbe(run_dir, opts.inspect_freq if opts.lambda_gan else 0, opts.gan_mode)


class InspectionLog:
    """The inspect/ folder of a run: appends records, draws patch maps, reports."""

    def __init__(self, run_dir):
        self.dir = Path(run_dir) / "inspect"
        self.path = self.dir / "log.jsonl"

    def add(self, step: int, record: dict, fake_B):
        """Append the record of `step`; draw its patch map over the first sample of the
        host batch fake_B."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with naming(self.path), open(self.path, "a") as f:
            f.write(json.dumps({"step": step, **record}) + "\n")
        sample, patch_map = to_uint8_image(fake_B[0]), np.array(record["patch_map"])
        panel = pictures.labelled_row([
            (sample, f"G(A), step {step}"),
            (pictures.heat_overlay(sample, patch_map),
             f"D's patch map: mean {patch_map.mean():.2f}")])
        image = Image.fromarray(panel)
        replace_atomically(self.dir / f"patchmap_{step:07d}.png",
                           lambda f: image.save(f, format="PNG"))

    def records(self) -> list:
        """The records in step order. A run resumed from an earlier checkpoint inspects its
        steps again: a record replaces those of the same or later steps before it. A line
        that does not parse (torn by a kill mid-append) is skipped."""
        if not self.path.exists():
            return []
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int):
                while kept and kept[-1]["step"] >= record["step"]:
                    kept.pop()
                kept.append(record)
        return kept

    def html_section(self) -> str:
        """Charts of D's accuracy and patch-map mean over the steps, and the latest record's
        gradient norms per layer (empty string when nothing was inspected)."""
        from p2p_cupy.inspection.activations import grad_table
        records = self.records()
        if not records:
            return ""
        steps = [r["step"] for r in records]
        charts = "".join(loss_chart(name, steps, [r[name] for r in records]) for name in CHARTED)
        last = records[-1]
        tables = "".join(
            f"<h3>{title}</h3>" + grad_table([dict(zip(GRAD_FIELDS, row)) for row in last[key]])
            for title, key in (("Generator", "grad_G"), ("Discriminator (D step)", "grad_D")))
        picture = f"patchmap_{last['step']:07d}.png"
        return (f"<h2>Inside the networks (every --inspect-freq steps)</h2>"
                f'<div class="charts">{charts}</div>'
                f"<h3>D's patch map on the latest sample, step {last['step']}</h3>"
                f'<img src="inspect/{html.escape(picture)}" alt="patch map">'
                f"<p>red: D says fake, blue: D says real</p>"
                f"<h3>Gradient norms per layer, step {last['step']}</h3>{tables}")
