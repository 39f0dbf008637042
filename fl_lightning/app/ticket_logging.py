"""The W&B record of a ticket: one run (job type `prune`) that logs the ticket file as an
Artifact whose input is the DAE checkpoint's artifact, so lineage reads checkpoint -> ticket.

`app.pruning.prune` calls it, so a ticket made from Python is logged as one made by
`fl-lightning prune` (pre-training and federation log theirs the same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fl_lightning.models.dae import file_sha256
from fl_lightning.pruning.ticket import Ticket
from fl_lightning.recorded_paths import recorded_tree
from fl_lightning.tracking.wandb_run import (
    DAE_ARTIFACT,
    TICKET_ARTIFACT,
    WandbRun,
    artifact_name,
    use_offline_default,
)


@dataclass(frozen=True)
class PruneWandb:
    """W&B logging of the ticket (offline unless WANDB_MODE says otherwise).

    Args:
        enabled: log the ticket as a W&B Artifact made from the DAE checkpoint's artifact
            (a run of job type `prune`, in OUTPUT's folder under wandb/).
        project: W&B project.
    """

    enabled: bool = True
    project: str = "fl-lightning"


def log_ticket(
    ticket: Ticket, output: Path, options: PruneWandb, config: dict[str, Any]
) -> Path | None:
    """Log the ticket saved at `output`; `config` (the pruning's options) is the run's config,
    its paths recorded portably. Returns the W&B run's folder (None when disabled)."""
    if not options.enabled:
        return None
    use_offline_default()
    provenance = ticket.provenance
    source = provenance.get("source_sha256")
    run = WandbRun(
        enabled=True,
        project=options.project,
        name=f"prune/{output.stem}",
        group=None,
        save_dir=output.parent,
        config=recorded_tree({**config, "provenance": provenance}),
        job_type="prune",
        round_metrics=False,  # a ticket, no rounds
    )
    try:
        run.log_artifact(
            output,
            kind=TICKET_ARTIFACT,
            sha256=file_sha256(output),
            inputs=[artifact_name(DAE_ARTIFACT, source)] if source else [],
            metadata={k: v for k, v in ticket.report().items() if k != "layers"},
        )
        directory = run.directory
    finally:
        run.finish()
    return directory
