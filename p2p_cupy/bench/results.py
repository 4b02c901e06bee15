"""Result records on disk: one JSON per run in benchmarks/results/, and
benchmarks/RESULTS.md generated from all of them (never edited by hand).

The default paths are relative to the current folder, so run from the root of a checkout
they are the repository's files; an installed package has no files of its own to write.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from p2p_cupy.output_paths import check_output
from p2p_cupy.safe_files import write_text_atomically

RESULTS_DIR = Path("benchmarks") / "results"
RESULTS_MD = RESULTS_DIR.parent / "RESULTS.md"
README = Path("README.md")


def stamp(record: dict) -> dict:
    """Adds the UTC time of the run (the record's `date`)."""
    record["date"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return record


def default_path(record: dict) -> Path:
    """benchmarks/results/<device>-<date>-<kind>.json (the date to the second, so runs of
    one day do not overwrite each other)."""
    date = record["date"].replace(":", "").rstrip("Z")
    return RESULTS_DIR / f"{record['device']}-{date}-{record['kind']}.json"


def save(record: dict, path=None) -> Path:
    path = Path(path) if path else default_path(record)
    check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomically(path, json.dumps(record, indent=1) + "\n")


def load_all(folder: Path = RESULTS_DIR) -> list:
    """Every record in `folder`, oldest first."""
    records = [json.loads(p.read_text(encoding="utf-8"))
               for p in sorted(Path(folder).glob("*.json"))]
    return sorted(records, key=lambda r: r.get("date", ""))


def _ms(stats) -> str:
    """median [min-max] of a timing summary."""
    return f"{stats['median_ms']:.0f} [{stats['min_ms']:.0f}-{stats['max_ms']:.0f}]"


def _machine(r) -> str:
    m = r["machine"]
    where = m["gpu"] or f"{m['cpu']}, {m['cores']} cores"
    threads = f", torch {m['torch']} ({m['torch_threads']} threads)" if "torch" in m else ""
    load = m.get("load_average_1_5_15min")
    load = f"; load avg (5 min) {load[1]:.1f}" if load else ""
    return f"{where}; numpy {m['numpy']} ({m['blas']}){threads}{load}"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _header(names) -> list:
    return [_row(names), "|" + "---|" * len(names)]


def _throughput(stats) -> str:
    return f"{stats['gflops']:.1f} ({stats['percent_of_peak']:.0f}%)"


def step_table(records) -> list:
    lines = _header(["date (UTC)", "device", "batch", "size", "malloc",
                     "ours ms/it median [min-max]",
                     "torch ms/it median [min-max]", "ratio ours/torch", "ours img/s",
                     "ours GFLOP/s (% of matmul peak)", "torch GFLOP/s (% of peak)", "machine"])
    for r in records:
        c, ours, torch = r["config"], r["ours"], r.get("torch")
        lines.append(_row([
            r["date"], r["device"], c["batch_size"], c["size"], _malloc(c), _ms(ours),
            _ms(torch) if torch else "-", f"{r['ratio']:.2f}" if torch else "-",
            f"{ours['images_per_s']:.2f}", _throughput(ours),
            _throughput(torch) if torch else "-", _machine(r)]))
    return lines


def _malloc(config) -> str:
    """glibc malloc settings of the run (records before the option existed: the default)."""
    return config.get("malloc", "default")


def ratio_summary(records) -> list:
    """One line per (device, batch, size, malloc) compared with torch: every run's ratio."""
    groups = {}
    for r in records:
        if "ratio" in r:
            c = r["config"]
            key = (r["device"], c["batch_size"], c["size"], _malloc(c))
            groups.setdefault(key, []).append(r["ratio"])
    lines = _header(["device", "batch", "size", "malloc", "runs", "ratio ours/torch per run",
                     "median", "worst"])
    for (device, batch, size, malloc), ratios in sorted(groups.items()):
        lines.append(_row([device, batch, size, malloc, len(ratios),
                           ", ".join(f"{x:.2f}" for x in ratios),
                           f"{sorted(ratios)[len(ratios) // 2]:.2f}", f"{max(ratios):.2f}"]))
    return lines


def infer_table(records) -> list:
    lines = _header(["date (UTC)", "device", "size", "batch", "ours ms median [min-max]",
                     "torch ms median [min-max]", "ratio ours/torch", "machine"])
    for r in records:
        for row in r["rows"]:
            torch = row.get("torch")
            lines.append(_row([
                r["date"], r["device"], r["config"]["size"], row["batch_size"],
                _ms(row["ours"]), _ms(torch) if torch else "-",
                f"{row['ratio']:.2f}" if torch else "-", _machine(r)]))
    return lines


def layers_table(record) -> list:
    lines = [f"Run of {record['date']} on {record['device']}, batch "
             f"{record['config']['batch_size']}, {_machine(record)}. Median of "
             f"{record['config']['repeats']} interleaved runs, ms; dx+dw is the whole "
             "backward (input and parameter gradients).", "",
             *_header(["layer", "op", "input", "fwd ours", "fwd torch", "dx ours", "dx torch",
                       "dx+dw ours", "dx+dw torch"])]
    for row in record["rows"]:
        o, t = row["ours"], row.get("torch") or {}
        cells = [row["name"], row["op"], "x".join(map(str, row["in_shape"]))]
        for key in ("forward_ms", "input_grad_ms", "both_grads_ms"):
            cells += [f"{d[key]:.1f}" if key in d else "-" for d in (o, t)]
        lines.append(_row(cells))
    return lines


def model_table(records) -> list:
    """The roofline predictions (`p2p bench model --save`), each beside the measured step."""
    lines = ["Predicted floor of one training iteration from the recorded work (every kernel, "
             "GEMM and layout copy at max(bytes / bandwidth, FLOPs / peak, 2 us); see "
             "p2p_cupy/bench/model.py), beside the last measured step on that GPU kind when "
             "the prediction was made. The floor assumes every kernel at the roofline: a "
             "change that brings slow kernels closer to it (the gap to the measured step) "
             "shows only in a measurement; benchmarks/NOTES.md gives the expected gains.", "",
             *_header(["date (UTC)", "GPU", "code", "batch", "size", "GEMMs at", "launches",
                       "GB", "GFLOP", "predicted floor ms", "measured ms"])]
    for r in records:
        measured = f"{r['measured'][0]:.1f} ({r['measured'][1][:10]})" if r.get("measured") else "-"
        lines.append(_row([r["date"], r["gpu"], r.get("label", "?"), r["batch_size"], r["size"],
                           "TF32" if r["tf32"] else "FP32", r["launches"],
                           f"{r['bytes'] / 1e9:.2f}", f"{r['flops'] / 1e9:.1f}",
                           f"{r['floor_ms']:.2f}", measured]))
    return lines


def render(records) -> str:
    """The markdown of benchmarks/RESULTS.md for these records."""
    by_kind = {kind: [r for r in records if r.get("kind") == kind]
               for kind in ("step", "infer", "layers", "model")}
    out = ["# Benchmark results", "",
           "Generated by `p2p bench report` from benchmarks/results/*.json: do not edit by "
           "hand. Times are per call, median [min-max] of interleaved runs (ours and PyTorch "
           "take turns in one process). FLOPs per iteration from `p2p inspect model`; "
           "the peak is the same machine's measured float32 matmul.", "",
           "## Training iteration (`p2p bench step`)", "",
           "Ratio of the median ms per iteration, ours / PyTorch, for every run:", "",
           *ratio_summary(by_kind["step"]), "", "Every run:", "", *step_table(by_kind["step"]), "",
           "## Generator inference (`p2p bench infer`)", "", *infer_table(by_kind["infer"]), ""]
    if by_kind["layers"]:
        out += ["## Layers (`p2p bench layers`, latest run)", "",
                *layers_table(by_kind["layers"][-1]), ""]
    if by_kind["model"]:
        out += ["## Roofline model (`p2p bench model`)", "", *model_table(by_kind["model"]), ""]
    quality = [r for r in records if r.get("kind") == "quality"]
    if quality:
        out += quality_section(quality[-1])
    return "\n".join(out)


def quality_section(record) -> list:
    """The latest `p2p bench quality` table, ours next to the paper's per-pixel accuracy."""
    from p2p_cupy.bench.quality import table_lines
    sc = record["scale"]
    return ["## Image quality: the paper's ablations (`p2p bench quality`, latest run)", "",
            f"`{record.get('command', 'p2p bench quality')}` on {record['date']}: synthetic "
            f"facades v2, {sc['crop_size']} px crops of {sc['load_size']} px, {sc['netG']} "
            f"ngf {sc['ngf']} / PatchGAN ndf {sc['ndf']}, {sc['steps']} steps of batch "
            f"{sc['batch_size']} per configuration, "
            f"{sum(r['train_seconds'] for r in record['rows']) / 60:.0f} min of training "
            f"summed over the rows (README.md, Image quality, says how they were run and "
            f"the wall time) on {_machine(record)}. FCN-score of a segmenter trained on the real "
            f"renderings (p2p_cupy/quality; {_scorer(record['fcn_scorer'])}); the paper's "
            "column is its Cityscapes labels -> photo per-pixel accuracy; the PatchGANs' "
            "receptive fields are scaled to the crop (p2p_cupy/bench/quality.py). What "
            "agrees and what does not: README.md, Image quality.", "",
            *table_lines(record), ""]


def _scorer(r) -> str:
    """How a quality record's FCN scorer was trained, in words."""
    text = f"{r['epochs']} epoch(s) of {r['train_pairs']} pairs at {r['size']} px, ngf {r['ngf']}"
    if "recipe" in r:
        text += (f", lr {r['lr']:g} falling towards 0 after {r['decay_from']:.0%} of them, "
                 f"{r['train_seconds'] / 60:.1f} min")
    return text


README_BEGIN, README_END = "<!-- bench-summary:begin -->", "<!-- bench-summary:end -->"


def update_readme(records, readme: Path = README) -> bool:
    """Replace the README's summary table (between the two markers) with the ratios of
    these records; False (README untouched) when the markers are absent."""
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    if README_BEGIN not in text or README_END not in text:
        return False
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    table = "\n".join(ratio_summary([r for r in records if r.get("kind") == "step"]))
    readme.write_text(f"{head}{README_BEGIN}\n{table}\n{README_END}{tail}", encoding="utf-8")
    return True


def write_report(folder: Path = RESULTS_DIR, out: Path = None, readme: Path = README) -> Path:
    """Write RESULTS.md (and the README's summary table) from every record in `folder`."""
    records = load_all(folder)
    out = Path(out) if out else Path(folder).parent / "RESULTS.md"
    out.write_text(render(records), encoding="utf-8")
    update_readme(records, readme)
    return out
