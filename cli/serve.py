"""`p2p serve`: draw in the browser, see the translation and what D thinks.

    p2p serve --checkpoint runs/synthetic_facades           then open http://127.0.0.1:8000/
    p2p serve --checkpoint facades.npz --port 8080          (p2p convert output)
"""
import click

from p2p_cupy.cli.common import device_option


@click.command()
@click.option("--checkpoint", "source", required=True, type=click.Path(exists=True),
              help="A run folder (its latest checkpoint, G and D), a checkpoint .npz "
                   "(p2p convert) or a PyTorch pix2pix generator .pth.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The default is reachable from this machine "
                   "only; anything else exposes the model to your network.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--classes", "classes_file", type=click.Path(exists=True, dir_okay=False),
              help="classes.txt of a label-map data set ('index name R G B' a line): the "
                   "drawing palette. Default: a run's data set's, if it has one (a "
                   "converted or .pth generator has none); without a palette the page "
                   "draws with a pen and an eraser.")
@device_option()
def serve(source, host, port, classes_file, device):
    """Serve an interactive pix2pix page for a trained model on this machine."""
    from p2p_cupy import backend
    from p2p_cupy.serve.model import ServedModel
    from p2p_cupy.serve.server import PageServer

    with backend.using(device):      # the model keeps its backend for the request threads
        model = ServedModel(source, classes_file)
    server = PageServer(model, host, port)
    info = model.info()
    click.echo(f"{source}: {info['netG']} at {info['size']}x{info['size']}, "
               f"{'label map with ' + str(len(info['classes'])) + ' classes' if info['classes'] else 'sketch'}"
               f"{', with D' if info['has_discriminator'] else ', no D (generator only)'}")
    try:                             # Ctrl-C from the moment the address is shown
        click.echo(f"Serving on {server.url}  (Ctrl-C stops)")
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("\nStopped.")
    finally:
        server.server_close()
