"""`app.pretrain_progress`: a pre-training's epochs, one short line each in a pipe."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

from fl_lightning.app.pretrain_progress import EpochLines, epoch_metrics, progress_bar


def test_epoch_metrics_keep_the_epoch_values_under_short_names() -> None:
    metrics = {
        "train/recon_loss_step": torch.tensor(0.9),
        "train/recon_loss_epoch": torch.tensor(0.5),
        "val/recon_loss": 0.25,
        "v_num": 3,
        "note": "text",
    }
    assert epoch_metrics(metrics) == {"train/recon_loss": 0.5, "val/recon_loss": 0.25}


def test_each_epoch_is_one_line_with_its_eta(capsys: pytest.CaptureFixture[str]) -> None:
    bar = EpochLines()
    trainer: Any = SimpleNamespace(current_epoch=0, max_epochs=4, callback_metrics={})
    bar.on_train_start(trainer, None)  # type: ignore[arg-type]
    bar._started -= 10.0  # ten seconds for the first epoch (no sleep in a test)
    trainer.callback_metrics = {"train/recon_loss_epoch": torch.tensor(0.874), "v_num": 1}
    bar.on_train_epoch_end(trainer, None)  # type: ignore[arg-type]
    line = capsys.readouterr().out.strip()
    assert line.startswith("epoch 1/4  train/recon_loss 0.8740  elapsed 0:00:1")
    assert line.endswith("ETA 0:00:30")  # 3 epochs left at 10 s each
    bar.disable()
    bar.on_train_epoch_end(trainer, None)  # type: ignore[arg-type]
    assert capsys.readouterr().out == ""


def test_a_pipe_gets_epoch_lines() -> None:
    assert isinstance(progress_bar(), EpochLines)  # pytest captures stdout: not a terminal
