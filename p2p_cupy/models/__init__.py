"""The pix2pix networks, by the names of the reference implementation's options."""
from p2p_cupy.models.patchgan import PatchGAN, PixelDiscriminator
from p2p_cupy.models.resnet import ResnetGenerator
from p2p_cupy.models.unet import UNetGenerator

# unet_<size>: num_downs = log2(size), so a size x size image reaches 1x1 at the bottom.
# unet_64 and unet_32 are ours: small generators for quick CPU runs on small crops.
GENERATORS = {"unet_256": 8, "unet_128": 7, "unet_64": 6, "unet_32": 5}
# resnet_<n>blocks: the number of residual blocks (n_blocks overrides it).
RESNET_GENERATORS = {"resnet_9blocks": 9, "resnet_6blocks": 6}
DISCRIMINATORS = ("basic", "n_layers", "pixel")
NORMS = ("batch", "instance", "none")


def generator_names():
    """Every netG define_G knows, U-Nets first."""
    return [*GENERATORS, *(g.replace("unet", "encoder_decoder") for g in GENERATORS),
            *RESNET_GENERATORS]


def define_G(netG="unet_256", input_nc=3, output_nc=3, ngf=64, norm="batch",
             use_dropout=True, seed=0, num_downs=None, n_blocks=None):
    """netG: unet_<size> | encoder_decoder_<size> for a size in GENERATORS, or any netG
    with an explicit num_downs (small models for tests); resnet_9blocks | resnet_6blocks,
    with n_blocks residual blocks instead when given."""
    if netG in RESNET_GENERATORS:
        n_blocks = RESNET_GENERATORS[netG] if n_blocks is None else n_blocks
        return ResnetGenerator(input_nc, output_nc, ngf, norm, use_dropout, n_blocks, seed)
    if n_blocks is not None:
        raise ValueError(f"n_blocks applies to the ResNet generators "
                         f"({', '.join(RESNET_GENERATORS)}), not to {netG}")
    skips = not netG.startswith("encoder_decoder")
    if num_downs is None:
        size = netG.rsplit("_", 1)[-1]
        if netG.replace("encoder_decoder", "unet") not in GENERATORS:
            raise ValueError(f"unknown netG {netG!r}; choose one of "
                             f"{', '.join(generator_names())}")
        num_downs = GENERATORS[f"unet_{size}"]
    return UNetGenerator(input_nc, output_nc, num_downs, ngf, norm, use_dropout, skips, seed)


def define_D(netD="basic", input_nc=6, ndf=64, n_layers_D=3, norm="batch", seed=0):
    """netD: basic (70x70 PatchGAN) | n_layers (PatchGAN with n_layers_D) | pixel (1x1)."""
    if netD == "basic":
        return PatchGAN(input_nc, ndf, 3, norm, seed)
    if netD == "n_layers":
        return PatchGAN(input_nc, ndf, n_layers_D, norm, seed)
    if netD == "pixel":
        return PixelDiscriminator(input_nc, ndf, norm, seed)
    raise ValueError(f"unknown netD {netD!r}; choose basic, n_layers or pixel")


__all__ = ["UNetGenerator", "ResnetGenerator", "PatchGAN", "PixelDiscriminator", "define_G",
           "define_D"]
