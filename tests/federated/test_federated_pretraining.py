"""Federated DAE pre-training (`fl-lightning pretrain --federated`): the clients' own images, the
bytes by the payload formula, a normal DAE checkpoint that prune and federate take, an exact
resume, and the server-images refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fl_lightning.app.federated_pretraining import (
    FederatedPretrainConfig,
    FederatedWandb,
    federated_pretrain,
)
from fl_lightning.cli import main
from fl_lightning.errors import UsageError
from fl_lightning.federated.client import ClientConfig
from fl_lightning.federated.codec import payload_size
from fl_lightning.models.dae import load_dae_checkpoint
from fl_lightning.pruning.mask import Mask
from fl_lightning.pruning.ticket import Ticket
from tests.smoke_runs import federate_args


def tiny(root: Path, out: Path, rounds: int = 2, **kwargs: object) -> FederatedPretrainConfig:
    """4 clients of 30 images, 2 per round, the MLP; no W&B."""
    data = {"root": str(root), "num_clients": 4, "max_client_examples": 30,
            "max_test_examples": 100}  # fmt: skip
    return FederatedPretrainConfig(
        output=str(out),
        data=data,
        model={"model": "mlp"},
        client=ClientConfig(batch_size=10),
        rounds=rounds,
        clients_per_round=2,
        wandb=FederatedWandb(enabled=False),
        **kwargs,  # type: ignore[arg-type]
    )


def test_pretrain_prune_federate_from_the_command_line(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fdae"
    main(["pretrain", "--federated", "--output", str(out), "--rounds", "2",
          "--clients_per_round", "2", "--data.root", str(tiny_fashion_root),
          "--data.num_clients", "4", "--data.max_client_examples", "30",
          "--data.max_test_examples", "100", "--model.model", "mlp",
          "--client.batch_size", "10", "--wandb.enabled", "false"])  # fmt: skip
    ckpt = load_dae_checkpoint(out / "dae.ckpt")
    assert ckpt.holdout is not None and ckpt.holdout["source"] == "clients"
    assert ckpt.holdout["num_images"] == 4 * 30  # every client image, none held out
    summary = json.loads((out / "summary.json").read_text())
    raw = torch.load(out / "dae.ckpt", weights_only=True)
    # each round: 2 downloads and 2 uploads of the whole autoencoder, float32, no mask
    size = payload_size(raw["state_dict"], Mask({}), with_mask=False, codec="float32")
    assert [r["comm/bytes"] for r in summary["history"]] == [4 * size, 4 * size]
    assert raw["federated_pretraining"]["total_bytes"] == summary["total_bytes"] == 8 * size
    assert summary["client_flops"] > 0 and summary["rounds"] == 2
    assert all(0 < row["test/recon_loss"] < 10 for row in summary["history"])
    # the checkpoint is a normal one: prune it, federate its ticket (the smoke federation's MLP)
    ticket = tmp_path / "t.pt"
    main(["prune", "--checkpoint", str(out / "dae.ckpt"), "--sparsity", "0.8", "--output",
          str(ticket), "--wandb.enabled", "false"])  # fmt: skip
    assert Ticket.load(ticket).provenance["holdout"]["source"] == "clients"
    fed = tmp_path / "fed"
    main([*federate_args(tiny_fashion_root, fed, "--ticket", str(ticket), "--rounds", "1"),
          "--wandb.enabled", "false"])  # fmt: skip
    assert json.loads((fed / "summary.json").read_text())["rounds"] == 1


def test_a_stopped_run_resumes_to_the_identical_checkpoint(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    whole = federated_pretrain(tiny(tiny_fashion_root, tmp_path / "whole", rounds=3))

    class Stop(Exception):
        pass

    def crash_after_round_1(row: dict[str, object]) -> None:
        if row["round"] == 1:
            raise Stop

    part = tmp_path / "part"
    with pytest.raises(Stop):
        federated_pretrain(tiny(tiny_fashion_root, part, rounds=3), on_round=crash_after_round_1)
    assert not (part / "dae.ckpt").exists()
    resumed = federated_pretrain(tiny(tiny_fashion_root, part, rounds=3, resume=True))
    a, b = torch.load(whole, weights_only=True), torch.load(resumed, weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert a["federated_pretraining"] == b["federated_pretraining"] | {
        "client_seconds": a["federated_pretraining"]["client_seconds"]
    }
    with pytest.raises(UsageError, match=r"--resume: options differ.*seed=1 \(was 0\)"):
        federated_pretrain(tiny(tiny_fashion_root, part, rounds=4, resume=True, seed=1))


def test_server_images_and_bad_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--data\.server_images=100.*allowed 0"):
        FederatedPretrainConfig(output=str(tmp_path), data={"server_images": 100})
    with pytest.raises(UsageError, match=r"--rounds=0"):
        FederatedPretrainConfig(output=str(tmp_path), rounds=0)
    with pytest.raises(UsageError, match=r"--clients_per_round=0"):
        FederatedPretrainConfig(output=str(tmp_path), clients_per_round=0)
