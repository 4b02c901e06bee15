"""Training steps replayed from one capture (p2p_cupy/capture.py): the CUDA-graph path of
`p2p train` (on cuda by default; on emu with --cuda-graph, where it gives the same weights
as eager steps, bit for bit).

Step 1 runs eagerly (it makes what later steps reuse: gradient buffers, constants), step 2
runs with the arena planned, then the step is captured and every later step is one
replay. A replay writes its losses into the same step buffers every time, so they are
copied into a ring of per-step slots that the loss log reads later; fake_B is a view of
the static inputs, valid until the next step.
"""
from __future__ import annotations

from p2p_cupy import backend
from p2p_cupy.capture import CapturedStep
from p2p_cupy.train.step import StepInputs, train_step_on


class LossSlots:
    """`capacity` rows of the 4 losses on the device: keep(losses) copies one step's
    losses into the next row and returns them as views of it. A row is reused after
    `capacity` steps, so the log must read them at least that often (--print-freq)."""

    def __init__(self, names, capacity, dtype):
        self.names = tuple(names)
        self.rows = backend.current().xp.empty((capacity, len(self.names)), dtype)
        self.next = 0

    def keep(self, losses):
        bk = backend.current()
        row = self.rows[self.next]
        self.next = (self.next + 1) % len(self.rows)
        kept = {name: row[i, ...] for i, name in enumerate(self.names)}   # 0-d views
        for name in self.names:
            bk.copy(kept[name], losses[name])
        return kept


class GraphedSteps:
    """train_step for a run whose steps are replayed from one capture."""

    def __init__(self, run, gan_mode, lambda_l1, loss_names, print_freq, lambda_gan=1.0,
                 conditional_D=True):
        self.run, self.gan_mode, self.lambda_l1 = run, gan_mode, lambda_l1
        self.lambda_gan, self.conditional_D = lambda_gan, conditional_D
        self.loss_names, self.print_freq = loss_names, print_freq
        self.inputs = self.captured = self.slots = None
        self.steps = 0

    def _step(self):
        r = self.run
        return train_step_on(self.inputs, r.G, r.D, r.opt_G, r.opt_D, self.gan_mode,
                             self.lambda_l1, self.lambda_gan, self.conditional_D)

    def __call__(self, real_A, real_B):
        if self.inputs is None or not self.inputs.fits(real_A, real_B):
            self.inputs = StepInputs(real_A.shape, real_B.shape, real_A.dtype)
            self.captured, self.steps = None, 0          # a new shape: plan again
        self.inputs.copy_in(real_A, real_B)
        if self.steps == 0:
            losses, fake_B = self._step()
        elif self.steps == 1:
            self.captured = CapturedStep(backend.current(), self._step)
            losses, fake_B = self.captured.plan()
            self.captured.capture()
            self.slots = LossSlots(self.loss_names, self.print_freq, real_A.dtype)
        else:
            losses, fake_B = self.captured.replay()
        self.steps += 1
        if self.slots is not None:
            losses = self.slots.keep(losses)
        return losses, fake_B
