"""Image quality as pix2pix's paper measures it, on the built-in synthetic facades.

  scores    the FCN-score (per-pixel accuracy, per-class accuracy, class IoU) and the
            sharpness ratio (high-frequency energy of outputs / of real photos)
  scorer    the FCN scorer: a small U-Net segmenter trained with our framework on the real
            renderings, cached per data set version (used by `p2p test`)

The paper's loss, generator and PatchGAN ablations (`p2p bench quality`) train runs and
score them with `p2p test`, so they live above evaluation, in p2p_cupy/bench/quality.py.
"""
