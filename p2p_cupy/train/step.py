"""One pix2pix training iteration (docs/DESIGN.md, "The pix2pix spec").

    fake_B = G(A)
    D step:  loss_D = 0.5 * [GAN(D(A, fake_B.detach()), fake) + GAN(D(A, B), real)]
    G step:  loss_G = GAN(D(A, fake_B), real) + lambda_L1 * mean|fake_B - B|   (D frozen)

GAN is BCE with logits (vanilla) or MSE (lsgan) against a constant label map of 1 (real)
or 0 (fake), or the Wasserstein critic's -mean / +mean (wgangp), whose D step adds the
gradient penalty at interpolates of the real and fake pairs (gradient_penalty.py). The
paper's loss ablations: lambda_gan = 0 trains G with L1 alone (D is not run), lambda_l1 = 0
with the GAN alone, and an unconditional D judges B alone instead of the pair (A, B) (the
"L1+GAN" row; D then has 3 input channels). Our modules keep the cache of their last forward, so D runs as three
forward/backward pairs: fake then real for the D step, then the G step's pass through the
*updated* D, exactly the order of the reference implementation (and the same three batch
norm running-statistics updates).

The losses stay 0-d arrays on the backend: nothing here waits for the device.
"""
from __future__ import annotations

import numpy as np

from p2p_cupy import backend
from p2p_cupy.ops.concat import concat_backward
from p2p_cupy.ops.losses import (bce_with_logits_backward, bce_with_logits_forward,
                                 l1_backward, l1_forward, mse_backward, mse_forward)
from p2p_cupy.train.gradient_penalty import gradient_penalty, wgan_loss

GAN_LOSSES = {
    "vanilla": (bce_with_logits_forward, bce_with_logits_backward),
    "lsgan": (mse_forward, mse_backward),
}


GAN_MODES = (*GAN_LOSSES, "wgangp")


def gan_loss(pred, is_real: bool, gan_mode: str):
    """(loss, dloss/dpred) of the GAN criterion toward the label map real=1 / fake=0."""
    if gan_mode == "wgangp":
        return wgan_loss(pred, is_real)
    forward, backward = GAN_LOSSES[gan_mode]
    loss, cache = forward(pred, 1.0 if is_real else 0.0)
    return loss, lambda scale=1.0: backward(cache, scale)


class StepInputs:
    """A step's input buffers, allocated once and reused by every step:

        real_AB = cat(A, B)      fake_AB = cat(A, G(A))      (along channels)

    real_A, real_B are views of real_AB's halves and fake_B of fake_AB's second half,
    which G writes directly: no concat runs in the step (the halves are contiguous at
    batch 1; at larger batches the ops copy a half where they need it contiguous).
    copy_in(A, B) brings a new batch in: A into both pairs, B into real_AB."""

    def __init__(self, shape_A, shape_B, dtype):
        n, c_a, h, w = shape_A
        if tuple(shape_B[:1]) + tuple(shape_B[2:]) != (n, h, w):
            raise ValueError(f"train_step: A {tuple(shape_A)} and B {tuple(shape_B)} must share "
                             "N, H and W")
        xp = backend.current().xp
        pair = (n, c_a + shape_B[1], h, w)
        self.real_AB, self.fake_AB = xp.empty(pair, dtype), xp.empty(pair, dtype)
        self.real_A, self.real_B = self.real_AB[:, :c_a], self.real_AB[:, c_a:]
        self.fake_B = self.fake_AB[:, c_a:]
        self.shapes = (tuple(shape_A), tuple(shape_B), np.dtype(dtype))

    def fits(self, A, B) -> bool:
        return self.shapes == (tuple(A.shape), tuple(B.shape), np.dtype(A.dtype))

    def copy_in(self, A, B):
        """Copy a batch (host or backend arrays) into the buffers."""
        bk = backend.current()
        c_a = A.shape[1]
        self.real_A[...] = bk.asarray(A)
        self.real_B[...] = bk.asarray(B)
        self.fake_AB[:, :c_a] = self.real_A


def train_step(G, D, opt_G, opt_D, real_A, real_B, gan_mode="vanilla", lambda_l1=100.0,
               lambda_gan=1.0, conditional_D=True, inputs=None, average_gradients=None,
               gp_alpha=None, lambda_gp=10.0):
    """One iteration on a batch; returns the losses as 0-d backend arrays (no host sync)
    and fake_B. `inputs`: the StepInputs the batch is copied into (the training loop keeps
    one across steps); a new one when None. average_gradients(net), when given, runs
    between each backward and its optimizer step (data parallelism: the mean of the
    gradients over the processes). wgangp needs gp_alpha: the host (N,) interpolation
    weights of the penalty."""
    if inputs is None or not inputs.fits(real_A, real_B):
        inputs = StepInputs(real_A.shape, real_B.shape, real_A.dtype)
    inputs.copy_in(real_A, real_B)
    return train_step_on(inputs, G, D, opt_G, opt_D, gan_mode, lambda_l1, lambda_gan,
                         conditional_D, average_gradients, gp_alpha, lambda_gp)


def train_step_on(inputs, G, D, opt_G, opt_D, gan_mode="vanilla", lambda_l1=100.0,
                  lambda_gan=1.0, conditional_D=True, average_gradients=None,
                  gp_alpha=None, lambda_gp=10.0):
    """One iteration on the batch already in `inputs` (a StepInputs): everything train_step
    does after copying the batch in. (A captured step passes no average_gradients: the
    all-reduces run on the host.) lambda_gan 0: G's step on L1 alone, D untouched;
    conditional_D False: D judges B alone."""
    average = average_gradients or (lambda net: None)
    if gan_mode not in GAN_MODES:
        raise ValueError(f"unknown gan_mode {gan_mode!r}; choose {', '.join(GAN_MODES)}")
    real_A, real_B, fake_AB, real_AB = inputs.real_A, inputs.real_B, inputs.fake_AB, inputs.real_AB
    fake_B = G.forward_into(real_A, inputs.fake_B)
    c_a = real_A.shape[1]
    if lambda_gan == 0:
        return _l1_only_step(G, opt_G, fake_B, real_B, lambda_l1, average, gan_mode), fake_B
    if not conditional_D:
        fake_AB, real_AB = fake_B, real_B

    # D step: the fake pair is "detached" and the real pair is data, so neither pass
    # computes D's input gradient (its first conv's transposed conv is skipped).
    D.freeze(False)
    opt_D.zero_grad()
    loss_D_fake, grad = gan_loss(D.forward(fake_AB), False, gan_mode)
    D.backward_without_input_grad(grad(0.5))
    loss_D_real, grad = gan_loss(D.forward(real_AB), True, gan_mode)
    D.backward_without_input_grad(grad(0.5))
    if gan_mode == "wgangp":
        loss_D_GP = gradient_penalty(D, real_AB, fake_AB, gp_alpha, lambda_gp)
    average(D)
    opt_D.step()

    # G step: gradients flow through the (updated, frozen) D into fake_B, plus the L1 term.
    D.freeze(True)
    opt_G.zero_grad()
    loss_G_GAN, grad = gan_loss(D.forward(fake_AB), True, gan_mode)
    d_fake_B = D.backward(grad(lambda_gan))
    if conditional_D:
        _, d_fake_B = concat_backward(d_fake_B, (c_a, fake_B.shape[1]))
    loss_G_L1, l1_cache = l1_forward(fake_B, real_B)
    if lambda_l1:
        backend.current().add_into(d_fake_B, l1_backward(l1_cache, lambda_l1))
    G.backward_without_input_grad(d_fake_B)    # real_A is data: no gradient for it
    average(G)
    opt_G.step()
    D.freeze(False)

    losses = {"G_GAN": loss_G_GAN, "G_L1": loss_G_L1, "D_real": loss_D_real,
              "D_fake": loss_D_fake}
    if gan_mode == "wgangp":
        losses["D_GP"] = loss_D_GP
    return losses, fake_B


def _l1_only_step(G, opt_G, fake_B, real_B, lambda_l1, average, gan_mode):
    """G's step on lambda_l1 * L1 alone; the GAN losses (the mode's) are reported as 0."""
    opt_G.zero_grad()
    loss_G_L1, l1_cache = l1_forward(fake_B, real_B)
    G.backward_without_input_grad(l1_backward(l1_cache, lambda_l1))
    average(G)
    opt_G.step()
    zero = backend.current().xp.zeros_like(loss_G_L1)   # an allocation a capture can replay
    losses = {"G_GAN": zero, "G_L1": loss_G_L1, "D_real": zero, "D_fake": zero}
    if gan_mode == "wgangp":
        losses["D_GP"] = zero
    return losses
