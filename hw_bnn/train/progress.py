"""Training progress: a tqdm bar on a terminal, one plain line per epoch in a log, or nothing.

A bar redrawn with carriage returns floods a file (a log of a few epochs holds hundreds of
updates), so the bar is shown only when ``stderr`` is a terminal; otherwise each epoch ends
with one line on ``stderr``::

    train tfc-w1a1: epoch 3/20  loss 0.4120  val_acc 0.8920  1.4 s
"""

from __future__ import annotations

import sys
import time


def progress_mode(progress: bool, stream=None) -> str:
    """``off`` (``progress=False``), ``bar`` (``stream``, default stderr, is a terminal) or ``lines``."""
    if not progress:
        return "off"
    stream = stream or sys.stderr
    return "bar" if stream.isatty() else "lines"


class EpochProgress:
    """Progress of one training phase of ``epochs`` epochs of ``steps_per_epoch`` steps,
    resumed after ``start_epoch`` epochs; ``mode`` as :func:`progress_mode` gives it."""

    def __init__(self, desc: str, epochs: int, steps_per_epoch: int, start_epoch: int = 0, mode: str = "off"):
        self.desc, self.epochs, self.mode = desc, epochs, mode
        self.bar = None
        if mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch, desc=desc, unit="step"
            )
        self._t0 = time.monotonic()

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def epoch_done(self, epoch: int, loss: float, val_acc: float) -> None:
        """After epoch ``epoch`` (1-based, within the phase): the bar's postfix, or one line."""
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.3f}", val_acc=f"{val_acc:.4f}")
        elif self.mode == "lines":
            seconds = time.monotonic() - self._t0
            print(
                f"{self.desc}: epoch {epoch}/{self.epochs}  loss {loss:.4f}  val_acc {val_acc:.4f}  {seconds:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        self._t0 = time.monotonic()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
