"""One pix2pix training iteration (docs/DESIGN.md, "The pix2pix spec").

    fake_B = G(A)
    D step:  loss_D = 0.5 * [GAN(D(A, fake_B.detach()), fake) + GAN(D(A, B), real)]
    G step:  loss_G = GAN(D(A, fake_B), real) + lambda_L1 * mean|fake_B - B|   (D frozen)

GAN is BCE with logits (vanilla) or MSE (lsgan) against a constant label map of 1 (real)
or 0 (fake), or the Wasserstein critic's -mean / +mean (wgangp), whose D step adds the
gradient penalty at interpolates of the real and fake pairs (gradient_penalty.py). Our modules keep the cache of their last forward, so D runs as three
forward/backward pairs: fake then real for the D step, then the G step's pass through the
*updated* D, exactly the order of the reference implementation (and the same three batch
norm running-statistics updates).

The losses stay 0-d arrays on the backend: nothing here waits for the device.
"""
from __future__ import annotations

from p2p_cupy.ops.concat import concat_backward, concat_forward
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


def train_step(G, D, opt_G, opt_D, real_A, real_B, gan_mode="vanilla", lambda_l1=100.0,
               gp_alpha=None, lambda_gp=10.0, average_gradients=None):
    """One iteration on a batch; returns the losses as 0-d backend arrays (no host sync).
    wgangp needs gp_alpha: the host (N,) interpolation weights of the penalty.
    average_gradients(net), when given, runs between each backward and its optimizer step
    (data parallelism: the mean of the gradients over the processes)."""
    average = average_gradients or (lambda net: None)
    if gan_mode not in GAN_MODES:
        raise ValueError(f"unknown gan_mode {gan_mode!r}; choose {', '.join(GAN_MODES)}")
    fake_B = G.forward(real_A)
    fake_AB, fake_AB_cache = concat_forward([real_A, fake_B])
    real_AB, _ = concat_forward([real_A, real_B])

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
    _, d_fake_B = concat_backward(D.backward(grad()), fake_AB_cache)
    loss_G_L1, l1_cache = l1_forward(fake_B, real_B)
    d_fake_B += l1_backward(l1_cache, lambda_l1)
    G.backward_without_input_grad(d_fake_B)    # real_A is data: no gradient for it
    average(G)
    opt_G.step()
    D.freeze(False)

    losses = {"G_GAN": loss_G_GAN, "G_L1": loss_G_L1, "D_real": loss_D_real,
              "D_fake": loss_D_fake}
    if gan_mode == "wgangp":
        losses["D_GP"] = loss_D_GP
    return losses, fake_B
