"""`app.ticket_logging.log_ticket`: one `prune` W&B run whose ticket artifact is made from the
DAE checkpoint's artifact (lineage checkpoint -> ticket), offline, in the ticket's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

import fl_lightning as fl
from fl_lightning.app.ticket_logging import PruneWandb, log_ticket
from fl_lightning.models.dae import file_sha256
from fl_lightning.tracking.offline_reader import read_offline_run
from tests.pruning.test_ticket import write_dae_checkpoint


def test_the_ticket_artifact_names_the_checkpoint_it_was_made_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    dae = write_dae_checkpoint(tmp_path / "dae.ckpt")
    ticket = fl.prune(fl.PruneConfig(str(dae), 0.5))  # no output: nothing logged yet
    output = ticket.save(tmp_path / "tickets" / "s50.pt")
    assert log_ticket(ticket, output, PruneWandb(enabled=False), {}) is None
    assert not (output.parent / "wandb").exists()
    run_dir = log_ticket(ticket, output, PruneWandb(project="p"), {"sparsity": 0.5})
    assert run_dir is not None and run_dir.parent == output.parent / "wandb"
    record = read_offline_run(run_dir)
    assert record["run"]["name"] == "prune/s50" and record["run"]["job_type"] == "prune"
    [artifact] = record["artifacts"]
    dae_artifact = f"dae-checkpoint-{file_sha256(dae)[:16]}"
    assert artifact["name"] == f"ticket-{file_sha256(output)[:16]}"
    assert artifact["metadata"]["derived_from"] == [dae_artifact]
    assert "layers" not in artifact["metadata"]  # the per-layer report stays in the ticket
    assert record["config"]["sparsity"] == 0.5 and record["config"]["inputs"] == [dae_artifact]
    assert record["history"] == []  # a ticket, no rounds
