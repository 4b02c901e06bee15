"""`p2p export`: a trained generator as a standard ONNX model, to run it without p2p-cupy
(onnxruntime, TensorRT, OpenVINO, a browser...).

    p2p export runs/facades --format onnx --out facades.onnx
    p2p export facades_label2photo.pth --out facades.onnx       (a PyTorch pix2pix .pth)

The model is the generator in eval mode (batch norm with its running statistics, no
dropout): what `p2p translate --eval` computes. Input "input", output "output", NCHW
float32 in [-1, 1], any batch size, height and width multiples of the generator's stride.
Needs the onnx package: pip install "p2p-cupy[export]". With onnxruntime installed too,
the file is run once on a random image and compared with our own output.
"""
import click

from p2p_cupy.cli.common import device_option


@click.command()
@click.argument("source", type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="The output format.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="The file to write (e.g. model.onnx).")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Run the written file in onnxruntime (when installed) on a random image "
                   "and compare it with our own eval-mode output.")
@device_option()
def export(source, fmt, out, verify, device):
    """Export the generator of SOURCE (a run folder, a checkpoint .npz or a PyTorch
    pix2pix .pth) to --out."""
    from pathlib import Path

    from p2p_cupy import backend
    from p2p_cupy.interop.onnx_export import export_onnx
    from p2p_cupy.output_paths import check_output
    from p2p_cupy.evaluation import inference

    check_output(out, [source])     # e.g. not the run's own checkpoint
    with backend.using(device):
        G, opts = inference.load_generator(source, eval_mode=True)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        info = export_onnx(G, out, description=f"p2p-cupy {opts.netG} generator from {source}",
                           verify=verify)
    click.echo(f"{source} -> {out}: {opts.netG}, {info['nodes']} nodes, opset {info['opset']} "
               f"({', '.join(info['operators'])}), {Path(out).stat().st_size / 2**20:.1f} MiB")
    if verify:
        diff = info["verified"]
        click.echo("not verified: onnxruntime is not installed" if diff is None else
                   f"verified with onnxruntime: max |difference| {diff:.1e} on a random image")
