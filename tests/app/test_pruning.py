"""`app.pruning.prune` from Python: the ticket, its report and its W&B record, as the CLI's."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

import fl_lightning as fl
from fl_lightning.app.ticket_logging import PruneWandb
from fl_lightning.errors import UsageError
from fl_lightning.models.dae import file_sha256
from fl_lightning.tracking.offline_reader import read_offline_run
from tests.pruning.test_ticket import write_dae_checkpoint


def test_a_ticket_pruned_from_python_is_logged_as_the_cli_logs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dae = write_dae_checkpoint(tmp_path / "dae.ckpt")
    monkeypatch.chdir(tmp_path)
    logged: list[Path] = []
    fl.prune(fl.PruneConfig(str(dae), 0.5, output="runs/ticket.pt"), on_logged=logged.append)
    [run_dir] = logged
    assert [Path(p) for p in glob.glob("runs/wandb/*run-*")] == [Path(run_dir)]
    record = read_offline_run(run_dir)
    [artifact] = record["artifacts"]
    assert artifact["type"] == "ticket"
    assert artifact["metadata"]["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert file_sha256(Path("runs/ticket.pt")) in artifact["name"] + str(artifact["metadata"])
    config = record["config"]
    assert config["sparsity"] == 0.5 and config["wandb"]["enabled"] is True
    assert not os.path.isabs(config["checkpoint"])  # recorded relative, never a machine path


def test_logging_can_be_turned_off_and_needs_an_output(tmp_path: Path) -> None:
    dae = write_dae_checkpoint(tmp_path / "dae.ckpt")
    off = PruneWandb(enabled=False)
    fl.prune(fl.PruneConfig(str(dae), 0.5, output=str(tmp_path / "t.pt"), wandb=off))
    fl.prune(fl.PruneConfig(str(dae), 0.5))  # no output: nothing written, nothing logged
    assert not (tmp_path / "wandb").exists()
    with pytest.raises(UsageError, match="PruneWandb"):
        fl.PruneConfig(str(dae), 0.5, wandb={"enabled": False})  # type: ignore[arg-type]
