"""The progress display of a pre-training: one line per epoch in a pipe or a log, a bar with
short metric names on a terminal.

Lightning's bars show every logged value under its full name (`train/recon_loss_step`,
`train/recon_loss_epoch`, `val/recon_loss`, `v_num`), which an 80-column console wraps over
eight lines, and in a pipe a live bar prints nothing useful. Here each epoch's losses get one
line, as each federated round does (`federated.progress`).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar
from rich.console import Console
from typing_extensions import override

from fl_lightning.experiments.grid_progress import clock


def epoch_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The epoch's values by short name: per-step values and Lightning's `v_num` left out,
    `_epoch` suffixes dropped (`train/recon_loss_epoch` -> `train/recon_loss`)."""
    short: dict[str, float] = {}
    for name, value in sorted(metrics.items()):
        if name == "v_num" or name.endswith("_step"):
            continue
        number = value.item() if isinstance(value, torch.Tensor) else value
        if isinstance(number, int | float):
            short[name.removesuffix("_epoch")] = float(number)
    return short


class EpochLines(ProgressBar):
    """`epoch 2/10  train/recon_loss 0.8740  val/recon_loss 0.7630  elapsed 0:00:04  ETA 0:00:16`
    after each training epoch (its validation included), on the main process."""

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self._started = time.monotonic()
        self._first_epoch = 0

    @override
    def disable(self) -> None:
        self._enabled = False

    @override
    def enable(self) -> None:
        self._enabled = True

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._started = time.monotonic()
        self._first_epoch = trainer.current_epoch

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self._enabled:
            return
        done = trainer.current_epoch + 1
        total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        elapsed = time.monotonic() - self._started
        finished = done - self._first_epoch
        parts = [f"epoch {done}/{total}" if total else f"epoch {done}"]
        parts += [f"{k} {v:.4f}" for k, v in epoch_metrics(trainer.callback_metrics).items()]
        parts.append(f"elapsed {clock(elapsed)}")
        if total:
            parts.append(f"ETA {clock(elapsed / finished * (total - done))}")
        print("  ".join(parts), file=sys.stdout, flush=True)


class ShortRichProgressBar(RichProgressBar):
    """Lightning's rich bar with the epoch's values under short names (`epoch_metrics`)."""

    @override
    def get_metrics(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
        return dict(epoch_metrics(super().get_metrics(trainer, pl_module)))


def progress_bar() -> ProgressBar:
    """The bar for this process's stdout: rich on a terminal, epoch lines elsewhere."""
    return ShortRichProgressBar() if Console().is_terminal else EpochLines()
