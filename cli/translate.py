"""`p2p translate`: run a trained generator on single images of any size it accepts
(width and height multiples of 2^num_downs, e.g. 256 for unet_256).

    p2p translate --checkpoint runs/facades labels1.png labels2.png --out translated/
    p2p translate --checkpoint facades.npz labels1.png --out translated/   (p2p convert)
"""
import click

from p2p_cupy.cli.common import device_option


@click.command()
@click.option("--checkpoint", "run_dir", required=True,
              type=click.Path(exists=True),
              help="A run folder, a checkpoint .npz (p2p convert) or a PyTorch .pth.")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_dir", required=True,
              help="Folder for the outputs, NAME.png (NAME_EXT.png for inputs that share a "
                   "name, e.g. a.png and a.jpg); an output may never replace an input.")
@click.option("--eval", "eval_mode", is_flag=True,
              help="Use BN running statistics and no dropout.")
@device_option()
def translate(run_dir, images, out_dir, eval_mode, device):
    """Translate IMAGE... with the generator of a run."""
    from pathlib import Path

    from p2p_cupy import backend
    from p2p_cupy.evaluation import inference
    from p2p_cupy.output_paths import plan_outputs

    targets = [t for (t,) in plan_outputs(images, out_dir, other_inputs=[run_dir])]
    with backend.using(device):
        G, _ = inference.load_generator(run_dir, eval_mode=eval_mode)
        inputs = [inference.load_image(path, G) for path in images]   # all checked first
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        for path, x, target in zip(images, inputs, targets):
            inference.save_image(inference.translate(G, x)[0], target)
            click.echo(f"{path} -> {target}")
