"""`compare`'s federated DAE pre-trainings stream their own W&B run (offline here), as
`pretrain --federated` does: in the comparison's group, each round's reconstruction loss, bytes
and FLOPs, dae.ckpt as an Artifact; killed and resumed, the same run goes on; reused, nothing
new is logged."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from fl_lightning.app.federate_groups import WandbConfig
from fl_lightning.app.federated_pretraining_wandb import JOB_TYPE
from fl_lightning.app.grid_fdae_wandb import fdae_run_name, fdae_wandb
from fl_lightning.cli import main
from fl_lightning.federated.dae_client import FederatedDAE
from fl_lightning.models.dae import file_sha256
from fl_lightning.tracking.offline_reader import (
    offline_run_ids,
    offline_run_parts,
    read_offline_run,
)
from fl_lightning.tracking.wandb_run import DAE_ARTIFACT, artifact_name
from tests.federated.test_federated_pretraining import PAYLOAD
from tests.reliability.test_resume import SimulatedKill, stop_when

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs" / "compare" / "smoke.yaml")


def compare_args(root: Path, out: Path) -> list[str]:
    """The smoke comparison of proposed_fdae alone, W&B on (offline: tests/conftest.py)."""
    return [
        "compare", "--config", SMOKE, "--output", str(out),
        f"--overrides+=--data.root={root}",
        "--overrides+=--federation.clients_per_round=2",
        "--methods=[proposed_fdae]", "--target_acc=[0.1]", "--budget_rounds=[]",
        "--fdae.rounds=2", "--fdae.clients_per_round=3",
    ]  # fmt: skip


def test_each_pretraining_logs_its_own_run_resumed_once_and_never_again_when_reused(
    tiny_fashion_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "c"
    folder = out / "pretrain_fdae" / "iid" / "seed0"
    monkeypatch.chdir(REPO)
    with monkeypatch.context() as patch:  # killed as the pre-training starts its round 2
        stop_when(patch, "run_round", lambda e, r, *_: isinstance(e, FederatedDAE) and r == 2)
        with pytest.raises(SimulatedKill):
            main(compare_args(tiny_fashion_root, out))
    assert not (folder / "dae.ckpt").exists()
    run_id = torch.load(folder / "checkpoint.pt", weights_only=False)["wandb_run_id"]
    main(compare_args(tiny_fashion_root, out))  # resumes the pre-training, then federates

    assert offline_run_ids(folder / "wandb") == [run_id]  # one run, continued
    parts = offline_run_parts(folder / "wandb", run_id)
    logged = [read_offline_run(p) for p in parts]
    assert [[row["round"] for row in part["history"]] for part in logged] == [[1], [2]]
    last = logged[-1]
    group = json.loads((out / "summary.json").read_text())["wandb_group"]
    assert group == "compare-c"
    assert last["run"]["group"] == group and last["run"]["job_type"] == JOB_TYPE == "pretrain"
    assert last["run"]["name"] == fdae_run_name("iid", 0) == "pretrain_fdae/iid/seed0"
    assert last["config"]["federation"]["rounds"] == 2
    with (folder / "metrics.csv").open() as f:
        written = list(csv.DictReader(f))
    history = [row for part in logged for row in part["history"]]
    for ours, row in zip(history, written, strict=True):
        assert ours["comm/down_bytes"] == ours["comm/up_bytes"] == 3 * PAYLOAD
        assert ours["test/recon_loss"] == pytest.approx(float(row["test/recon_loss"]))
        assert ours["compute/flops"] == float(row["compute/flops"]) > 0
    cost = json.loads((folder / "summary.json").read_text())["federated_pretraining"]
    assert last["summary"]["federated_pretraining"] == cost
    assert cost["total_bytes"] == 2 * 2 * 3 * PAYLOAD
    (artifact,) = last["artifacts"]
    assert artifact["type"] == DAE_ARTIFACT and artifact["files"] == ["dae.ckpt"]
    assert artifact["name"] == artifact_name(DAE_ARTIFACT, file_sha256(folder / "dae.ckpt"))
    # the federation that starts from it logs to its own run, not to the pre-training's
    run = out / "runs" / "iid" / "proposed_fdae-s0.8" / "seed0" / "wandb"
    (federation,) = offline_run_ids(run)
    assert federation != run_id

    main(compare_args(tiny_fashion_root, out))  # everything reused
    assert offline_run_parts(folder / "wandb", run_id) == parts  # nothing new logged
    assert sorted((folder / "wandb").glob("offline-run-*")) == sorted(parts)


def test_each_pretraining_takes_the_federations_wandb_under_its_own_name() -> None:
    federation = WandbConfig(enabled=False, project="p", group="compare-x", name="iid/fedavg/seed3")
    assert fdae_run_name("dirichlet-0.5", 3) == "pretrain_fdae/dirichlet-0.5/seed3"
    assert fdae_wandb(federation, "iid", 3) == WandbConfig(
        enabled=False, project="p", group="compare-x", name="pretrain_fdae/iid/seed3"
    )
