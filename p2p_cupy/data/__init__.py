"""Data for pix2pix: paired images, their augmentation, a loader, a synthetic data set.

  images       read any image file as RGB or one channel, or fail with one clean line
  transforms   the reference preprocessing (resize_and_crop, crop, scale_width, ...)
  aligned      the paired data set (AB side by side, or A/ and B/ folders)
  loader       seeded shuffling, batching, background prefetch, exact resume
  synthetic    the offline synthetic-facades data set (`p2p data synth-facades`)
  tools        combine, edges, colorize, blank, split (`p2p data ...`)
  download     the official pix2pix archives, resumable, checksummed
  archive      unpacking an archive without trusting it (files and folders only, limits)
"""
from p2p_cupy.data.aligned import AlignedDataset, BadImageWarning
from p2p_cupy.data.images import ImageReadError, read_image
from p2p_cupy.data.loader import PairLoader, iter_test_pairs, make_train_loader
from p2p_cupy.data.transforms import Preprocess

__all__ = ["AlignedDataset", "BadImageWarning", "ImageReadError", "PairLoader", "Preprocess",
           "iter_test_pairs", "make_train_loader", "read_image"]
