"""The W&B record of a federated DAE pre-training: one run (job type `pretrain`) that gets each
round as a federation's do (`test/recon_loss`, bytes, FLOPs; `round` as the step), the run's
summary and cost, and the final dae.ckpt as a `dae-checkpoint` Artifact, so that `prune`'s
ticket names it as its input (lineage: federated pre-training -> ticket -> federation).

A resumed pre-training continues the same W&B run: its id is in every checkpoint.pt.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from fl_lightning.app.federate_checks import wandb_rounds_logged, wandb_run_id
from fl_lightning.federated.engine import RoundEngine
from fl_lightning.federated.run_files import RunFiles
from fl_lightning.models.dae import file_sha256
from fl_lightning.tracking.wandb_options import WandbConfig
from fl_lightning.tracking.wandb_run import (
    DAE_ARTIFACT,
    WandbRun,
    new_run_id,
    use_offline_default,
)

#: The W&B job type of a federated pre-training's run.
JOB_TYPE = "pretrain"


def name_wandb_run(
    files: RunFiles, resumed: dict[str, Any] | None, options: WandbConfig
) -> str | None:
    """Set `files.wandb_run_id` (so every checkpoint names it) and return the id of the run an
    earlier part logged to (None: a new run, or none at all)."""
    previous = wandb_run_id(files, resumed)
    files.wandb_run_id = previous or (new_run_id() if options.enabled else None)
    return previous


def open_wandb_run(
    files: RunFiles,
    options: WandbConfig,
    *,
    previous: str | None,
    engine: RoundEngine,
    config_text: str,
    default_name: str,
) -> WandbRun:
    """The run's W&B run (a no-op one when disabled), continuing `previous`; the rounds that a
    killed earlier part finished but never flushed to W&B are logged again first."""
    use_offline_default()
    logged = wandb_rounds_logged(files.dir, previous) if previous else set()
    run = WandbRun(
        enabled=options.enabled,
        project=options.project,
        name=options.name or default_name,
        group=options.group,
        save_dir=files.dir,
        config=yaml.safe_load(config_text) or {},
        job_type=JOB_TYPE,
        run_id=files.wandb_run_id,
    )
    for row in engine.history:
        if row["round"] not in logged:
            run.log(row)
    return run


def log_dae_checkpoint(
    run: WandbRun, checkpoint: Path, saved: Mapping[str, Any], cost: Mapping[str, Any]
) -> str | None:
    """The pre-training's cost in the run summary and `checkpoint` (whose content is `saved`)
    as a `dae-checkpoint` Artifact, named by its sha256 as a server pre-training's is."""
    run.summary({"federated_pretraining": dict(cost)})
    info = saved["fl_lightning"]
    return run.log_artifact(
        checkpoint,
        kind=DAE_ARTIFACT,
        sha256=file_sha256(checkpoint),
        metadata={
            "model": info["model"],
            "dataset": info["dataset"],
            "holdout": dict(saved["datamodule_hyper_parameters"]),
            "source": "clients",
            "federated_pretraining": dict(cost),
        },
    )
