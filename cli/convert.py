"""`p2p convert`: a PyTorch pix2pix checkpoint (e.g. latest_net_G.pth) -> our .npz.

    p2p convert facades_label2photo.pth --out facades.npz
    p2p translate --checkpoint facades.npz labels.png --out translated/

torch is not needed: the .pth is read by a restricted unpickler that rebuilds tensors and
nothing else, so a malicious file cannot run code.
"""
import click


@click.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, help="The .npz to write.")
@click.option("--no-dropout", is_flag=True,
              help="The U-Net was trained with --no_dropout (dropout has no weights, so "
                   "this cannot be detected; a ResNet's layout shows it).")
@click.option("--input-nc", type=click.Choice([1, 3, 4]), default=None,
              help="A generator's channels are read from its weights (given: checked). "
                   "A discriminator's input holds input + output channels: this splits it "
                   "[default: half each].")
@click.option("--output-nc", type=click.Choice([1, 3]), default=None,
              help="Like --input-nc, for the generator's output channels.")
def convert(source, out, no_dropout, input_nc, output_nc):
    """Convert a PyTorch pix2pix checkpoint SOURCE (.pth) to a p2p-cupy .npz."""
    from p2p_cupy.interop.convert import convert_checkpoint

    info = convert_checkpoint(source, out, use_dropout=not no_dropout, input_nc=input_nc,
                              output_nc=output_nc)
    details = ", ".join(f"{k} {v}" for k, v in info.items() if k != "network")
    click.echo(f"{source} -> {out}: {info['network']} ({details})")
