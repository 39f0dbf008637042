"""`tracking.wandb_run`: one offline W&B run per job, `round` as its step, artifacts by content.

The runs here are real W&B runs, offline, written under pytest's tmp folder and read back with
`offline_reader`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fl_lightning.tracking.offline_reader import read_offline_run
from fl_lightning.tracking.wandb_run import (
    TICKET_ARTIFACT,
    WandbRun,
    artifact_name,
    new_run_id,
    stable_run_id,
    sync_command,
    use_offline_default,
)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_SWEEP_ID", raising=False)


def test_a_disabled_run_does_nothing_and_writes_nothing(tmp_path: Path) -> None:
    run = WandbRun(
        enabled=False, project="p", name=None, group=None, save_dir=tmp_path / "x", config={}
    )
    run.log({"round": 1})
    run.summary({"a": 1})
    assert run.log_artifact(tmp_path, kind="ticket", sha256="0" * 64) is None
    run.finish()
    assert run.directory is None and not (tmp_path / "x").exists()


def test_an_offline_run_records_rows_config_summary_and_an_artifact(
    tmp_path: Path, offline: None
) -> None:
    ticket = tmp_path / "ticket.pt"
    ticket.write_bytes(b"weights")
    sha = hashlib.sha256(b"weights").hexdigest()
    run = WandbRun(
        enabled=True,
        project="fl-lightning-test",
        name="proposed-seed0",
        group="g",
        save_dir=tmp_path,
        config={"method": "proposed", "ticket": str(ticket)},
    )
    run.log({"round": 1, "test/acc": 0.5})
    run.log({"round": 2, "test/acc": 0.75})
    run.summary({"val/acc": 0.7})
    name = run.log_artifact(ticket, kind=TICKET_ARTIFACT, sha256=sha, inputs=["dae-checkpoint-1"])
    directory = run.directory
    run.finish()
    assert name == f"ticket-{sha[:16]}" and directory is not None
    logged = read_offline_run(directory)
    assert [(r["round"], r["test/acc"]) for r in logged["history"]] == [(1, 0.5), (2, 0.75)]
    config = logged["config"]
    assert config["method"] == "proposed" and "code" in config
    assert not Path(config["ticket"]).is_absolute()  # recorded relative, never a machine path
    assert config["inputs"] == ["dae-checkpoint-1"]  # offline lineage: the run config's inputs
    assert logged["summary"]["val/acc"] == 0.7
    (artifact,) = logged["artifacts"]
    assert artifact["name"] == name and artifact["type"] == TICKET_ARTIFACT
    assert artifact["metadata"]["derived_from"] == ["dae-checkpoint-1"]
    assert artifact["metadata"]["sha256"] == sha
    assert logged["run"]["name"] == "proposed-seed0" and logged["run"]["group"] == "g"
    assert sync_command(tmp_path) == f"wandb sync {tmp_path}/wandb"


def test_names_and_ids() -> None:
    assert (
        artifact_name("dae-checkpoint", "0123456789abcdef0123") == "dae-checkpoint-0123456789abcdef"
    )
    ids = {new_run_id() for _ in range(20)}
    assert len(ids) == 20 and all(len(i) == 8 and i.isalnum() and i.islower() for i in ids)
    assert stable_run_id("compare-summary", "a/b") == stable_run_id("compare-summary", "a/b")
    assert stable_run_id("compare-summary", "a/b") != stable_run_id("compare-summary", "a/c")


def test_sync_command_names_every_run_with_one_pattern_per_depth(tmp_path: Path) -> None:
    assert sync_command(tmp_path) is None
    for folder in ("wandb", "iid/fedavg/seed0/wandb", "iid/proposed/seed1/wandb"):
        run = tmp_path / folder / "offline-run-1"
        run.mkdir(parents=True)
        (run / "run-1.wandb").write_bytes(b"")
    assert sync_command(tmp_path) == f"wandb sync {tmp_path}/wandb {tmp_path}/iid/*/*/wandb"


def test_offline_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_SWEEP_ID", raising=False)
    assert use_offline_default() == "offline"
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc")  # a sweep's agent: its server needs the metric
    assert use_offline_default() == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert use_offline_default() == "disabled"  # the user's choice is kept
