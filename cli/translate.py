"""`p2p translate`: run a trained generator on images of any size, files or folders.

    p2p translate --checkpoint runs/facades labels1.png photos/ --out translated/
    p2p translate --checkpoint runs/facades --epoch 50 big.jpg --out out/ --tile 512
    p2p translate --checkpoint facades.npz labels1.png --out translated/   (p2p convert)

Sides that are not a multiple of the generator's stride are padded (reflect) or resized
and the output comes back at the input's size (--fit); big images go through in
overlapping tiles, cross-faded (--tile; automatic above the memory budget).
"""
import click

from p2p_cupy.cli.common import device_option


@click.command()
@click.option("--checkpoint", "run_dir", required=True, type=click.Path(exists=True),
              help="A run folder, a checkpoint .npz (p2p convert) or a PyTorch .pth.")
@click.option("--epoch", default=None, metavar="N|latest",
              help="With a run folder: the checkpoint kept after epoch N [default: latest].")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "out_dir", required=True,
              help="Folder for the outputs, NAME.png (NAME_EXT.png for inputs that share a "
                   "name, e.g. a.png and a.jpg); an output may never replace an input.")
@click.option("--eval", "eval_mode", is_flag=True,
              help="Use BN running statistics and no dropout.")
@click.option("--fit", "fit_mode", type=click.Choice(["pad", "resize", "none"]), default="pad",
              show_default=True,
              help="Sides not a multiple of the generator's stride: reflect-pad and crop "
                   "back, resize there and back, or refuse.")
@click.option("--size", default=None, metavar="N|WxH",
              help="Resize each image first: longer side N (aspect kept) or exactly WxH; "
                   "the output has this size.")
@click.option("--tile", type=click.IntRange(0), default=None,
              help="Translate in overlapping TILE x TILE pieces (a multiple of the stride); "
                   "0: never. Default: only images too big for --max-memory.")
@click.option("--tile-overlap", type=click.IntRange(0), default=None,
              help="Pixels shared by neighbouring tiles, cross-faded [default: TILE/4].")
@click.option("--max-memory", type=click.FloatRange(0.1), default=2.0, show_default=True,
              help="GB the generator may use for one image before it is tiled (host "
                   "backends, measured per model).")
@click.option("--input-nc", type=click.Choice([1, 3, 4]), default=None,
              help="Check that the model takes this many input channels (it is read from "
                   "the model; images are converted to it).")
@click.option("--output-nc", type=click.Choice([1, 3]), default=None,
              help="Check that the model writes this many output channels.")
@device_option()
def translate(run_dir, epoch, images, out_dir, eval_mode, fit_mode, size, tile, tile_overlap,
              max_memory, input_nc, output_nc, device):
    """Translate IMAGES (files, or folders of images) with a trained generator."""
    from pathlib import Path

    from p2p_cupy import backend
    from p2p_cupy.data.images import image_size
    from p2p_cupy.output_paths import plan_outputs
    from p2p_cupy.evaluation import inference
    from p2p_cupy.evaluation.any_size import Translator

    files = inference.expand_inputs(images)
    targets = [t for (t,) in plan_outputs(files, out_dir, other_inputs=[run_dir])]
    for path in files:                    # every header checked before anything is written
        image_size(path)
    size = inference.parse_size(size)
    with backend.using(device):
        G, _ = inference.load_generator(run_dir, eval_mode=eval_mode, epoch=epoch)
        inference.check_channels(G, input_nc, output_nc, run_dir)
        run = Translator(G, fit_mode, tile, tile_overlap, int(max_memory * (1 << 30)))
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        for path, target in zip(files, targets):
            x = inference.read_input(path, G.input_nc, size)
            inference.save_image(run(x, name=str(path)), target)
            click.echo(f"{path} -> {target}")
