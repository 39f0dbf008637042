"""`app.federated_pretraining_wandb`: a federated pre-training's W&B run, named before it starts,
continued on resume, its DAE checkpoint logged as a content-named artifact."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fl_lightning.app.federated_pretraining_wandb import (
    JOB_TYPE,
    log_dae_checkpoint,
    name_wandb_run,
    open_wandb_run,
)
from fl_lightning.federated.run_files import RunFiles
from fl_lightning.models.dae import file_sha256
from fl_lightning.tracking.offline_reader import read_offline_run
from fl_lightning.tracking.wandb_options import WandbConfig


def test_the_run_is_named_before_it_starts(tmp_path: Path) -> None:
    files = RunFiles(tmp_path)
    assert name_wandb_run(files, None, WandbConfig()) is None  # a new run ...
    assert files.wandb_run_id is not None and len(files.wandb_run_id) == 8  # ... named now
    assert name_wandb_run(files, None, WandbConfig(enabled=False)) is None
    assert files.wandb_run_id is None
    resumed = {"wandb_run_id": "abcd1234"}
    assert name_wandb_run(files, resumed, WandbConfig()) == "abcd1234"  # continued
    assert files.wandb_run_id == "abcd1234"


def test_rounds_and_the_checkpoint_are_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    files = RunFiles(tmp_path)
    name_wandb_run(files, None, WandbConfig())
    engine: Any = SimpleNamespace(history=[{"round": 1, "val/recon_loss": 0.5}])
    run = open_wandb_run(
        files,
        WandbConfig(project="p"),
        previous=None,
        engine=engine,
        config_text="federation:\n  rounds: 1\n",
        default_name="fdae-seed0",
    )
    checkpoint = tmp_path / "dae.ckpt"
    checkpoint.write_bytes(b"dae")
    saved = {
        "fl_lightning": {"model": "mlp", "dataset": "mnist"},
        "datamodule_hyper_parameters": {"num_images": 100},
    }
    name = log_dae_checkpoint(run, checkpoint, saved, {"rounds": 1, "bytes": 10})
    directory = run.directory
    run.finish()
    assert name == f"dae-checkpoint-{file_sha256(checkpoint)[:16]}" and directory is not None
    record = read_offline_run(directory)
    assert record["run"]["job_type"] == JOB_TYPE and record["run"]["name"] == "fdae-seed0"
    assert [r["round"] for r in record["history"]] == [1]  # the unflushed round, logged once
    assert record["config"]["federation"] == {"rounds": 1}
    assert record["summary"]["federated_pretraining"] == {"rounds": 1, "bytes": 10}
    [artifact] = record["artifacts"]
    assert artifact["metadata"]["source"] == "clients"
    assert artifact["metadata"]["holdout"] == {"num_images": 100}
