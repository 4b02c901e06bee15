"""A plain-text progress bar per epoch (no dependency): it/s and the latest losses.

On a terminal it redraws one line with a carriage return; elsewhere (a log file, a CI
job) only the line written at the end of each epoch appears.
"""
from __future__ import annotations


def format_losses(losses: dict) -> str:
    return " ".join(f"{k} {v:.3f}" for k, v in losses.items())


class ProgressBar:
    WIDTH = 24

    def __init__(self, epoch: int, total_epochs: int, steps_per_epoch: int, out):
        self.epoch, self.total_epochs, self.total = epoch, total_epochs, steps_per_epoch
        self.out = out
        self.live = hasattr(out, "isatty") and out.isatty()

    def _line(self, done: int, speed: float, losses: dict) -> str:
        filled = self.WIDTH * done // max(self.total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        return (f"epoch {self.epoch}/{self.total_epochs} [{bar}] {done}/{self.total} "
                f"{speed:.2f} it/s {format_losses(losses)}")

    def update(self, done: int, speed: float, losses: dict):
        if self.live:
            self.out.write("\r" + self._line(done, speed, losses) + "\033[K")
            self.out.flush()

    def finish(self, done: int, speed: float, losses: dict, seconds: float, lr: float):
        """The line kept for each epoch."""
        end = "\r" if self.live else ""
        self.out.write(f"{end}{self._line(done, speed, losses)} ({seconds:.1f} s, "
                       f"lr {lr:.2e})" + ("\033[K" if self.live else "") + "\n")
        self.out.flush()
