"""Federated DAE pre-training (`fl-lightning pretrain --federated`): a tiny run whose checkpoint
is pruned and federated as a server pre-training's; bytes per round worked out by hand; the
provenance it records; the refusal of server images; the seeded noise; its offline W&B run
(rounds, summary, the checkpoint as an Artifact), continued by a resume."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from fl_lightning.app.federated_pretraining import FederatedPretrainConfig
from fl_lightning.app.pruning import PruneConfig, prune
from fl_lightning.app.ticket_logging import PruneWandb
from fl_lightning.cli import main
from fl_lightning.commands.pretrain import main as pretrain_main
from fl_lightning.data.holdout import check_holdout
from fl_lightning.errors import UsageError
from fl_lightning.federated.dae_client import ClientDAE, noise_seed
from fl_lightning.models.dae import file_sha256, load_dae_checkpoint
from fl_lightning.tracking.offline_reader import (
    offline_run_ids,
    offline_run_parts,
    read_offline_run,
)
from fl_lightning.tracking.wandb_run import DAE_ARTIFACT, artifact_name
from tests.smoke_runs import federate_args

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "pretrain" / "federated_smoke.yaml"

# The MLP's DAE on 28x28 images, parameter by parameter (encoder 784-200-200, mirrored decoder):
ENCODER = 784 * 200 + 200 + 200 * 200 + 200  # 197,200
DECODER = 200 * 200 + 200 + 200 * 784 + 784  # 197,784
# float32 values after the 56-byte header (format v2); a dense payload carries no mask section
PAYLOAD = 56 + 4 * (ENCODER + DECODER)  # 1,579,992 bytes, down and up alike


def pretrain_args(root: Path, out: Path, *extra: str) -> list[str]:
    """`fl-lightning pretrain --federated` on the smoke config: 6 clients, 3 per round, 2 rounds."""
    return [
        "pretrain", "--federated",
        "--config", str(SMOKE),
        "--data.root", str(root),
        "--data.num_clients", "6",
        "--data.max_client_examples", "20",
        "--data.max_test_examples", "100",
        "--data.test_batch_size", "100",
        "--federation.clients_per_round", "3",
        "--output", str(out),
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def federated_dae(tiny_fashion_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of one tiny federated pre-training."""
    out = tmp_path_factory.mktemp("fdae") / "run"
    main(pretrain_args(tiny_fashion_root, out))
    return out


def rows(out: Path) -> list[dict[str, str]]:
    with (out / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def test_bytes_per_round_are_the_payload_times_the_clients(federated_dae: Path) -> None:
    history = rows(federated_dae)
    assert [int(r["round"]) for r in history] == [1, 2]
    for row in history:
        assert int(row["clients/participated"]) == 3
        assert int(row["comm/down_bytes"]) == 3 * PAYLOAD
        assert int(row["comm/up_bytes"]) == 3 * PAYLOAD
        assert float(row["test/recon_loss"]) > 0
        assert row["test/acc"] == ""  # a DAE has no accuracy
    assert int(history[-1]["comm/cum_bytes"]) == 2 * 2 * 3 * PAYLOAD
    # each of the 6 clients has 20 images; a training step is 3 x the forward's 2 x MACs
    flops = 3 * 2 * (784 * 200 + 200 * 200 + 200 * 200 + 200 * 784) * 20 * 3
    assert float(history[0]["compute/flops"]) == flops


def test_checkpoint_records_source_clients_and_the_cost(federated_dae: Path) -> None:
    ckpt = load_dae_checkpoint(federated_dae / "dae.ckpt")
    assert ckpt.model == "mlp" and ckpt.dataset == "fashion_mnist"
    assert ckpt.holdout == {
        "dataset": "fashion_mnist",
        "source": "clients",
        "num_images": 6 * 20,
        "split_seed": 0,
    }
    cost = ckpt.federated_pretraining
    assert cost is not None
    assert cost["rounds"] == 2 and cost["num_clients"] == 6 and cost["clients_per_round"] == 3
    assert cost["down_bytes"] == cost["up_bytes"] == 2 * 3 * PAYLOAD
    assert cost["total_bytes"] == 4 * 3 * PAYLOAD
    assert cost["client_flops"] > 0 and cost["client_seconds"] > 0
    summary = json.loads((federated_dae / "summary.json").read_text())
    assert summary["federated_pretraining"] == cost
    # the final global model is the checkpoint's, and the initial encoder differs from it
    saved = torch.load(federated_dae / "dae.ckpt", weights_only=True)
    assert set(saved["state_dict"]) == {
        f"{part}.{layer}.{p}"
        for part in ("encoder", "decoder")
        for layer in ("fc1", "fc2")
        for p in ("weight", "bias")
    }
    w = "encoder.fc1.weight"
    assert not torch.equal(saved["state_dict"][w], saved["initial_encoder_state"][w])
    # the hold-out leak check does not apply: the clients' own images, none held out
    check_holdout({"holdout": ckpt.holdout}, option="--checkpoint", dataset="fashion_mnist",
                  server_images=100, split_seed=0)  # fmt: skip


def test_its_ticket_federates_as_a_server_pretrainings(
    federated_dae: Path, tiny_fashion_root: Path, tmp_path: Path
) -> None:
    ticket_path = tmp_path / "ticket.pt"
    ticket = prune(
        PruneConfig(
            str(federated_dae / "dae.ckpt"), 0.8, output=str(ticket_path),
            wandb=PruneWandb(enabled=False),
        )
    )  # fmt: skip
    assert ticket.provenance["federated_pretraining"]["rounds"] == 2
    assert ticket.provenance["holdout"]["source"] == "clients"
    # its W&B input is the pre-training's artifact (`dae-checkpoint-<sha256 of dae.ckpt>`)
    assert ticket.provenance["source_sha256"] == file_sha256(federated_dae / "dae.ckpt")
    out = tmp_path / "fed"
    main(
        federate_args(
            tiny_fashion_root, out, "--ticket", str(ticket_path), "--wandb.enabled", "false",
            "--rounds", "2",
        )
    )  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "proposed" and summary["rounds"] == 2
    assert summary["density"] == pytest.approx(0.2, abs=0.01)
    assert summary["final_test_acc"] is not None


def test_server_images_are_refused(tiny_fashion_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = pretrain_args(tiny_fashion_root, out, "--data.server_images", "100")
    with pytest.raises(UsageError, match=r"data.server_images=100: .* allowed: 0"):
        pretrain_main(args[1:])
    assert not out.exists()  # refused before anything is written
    with pytest.raises(UsageError, match=r"data\.server_images=10"):
        FederatedPretrainConfig(output=str(out), data={"server_images": 10})
    with pytest.raises(UsageError, match=r"engine='ray' .* allowed: local, flower"):
        FederatedPretrainConfig(output=str(out), engine="ray")


def test_a_finished_run_is_not_overwritten(federated_dae: Path, tiny_fashion_root: Path) -> None:
    with pytest.raises(UsageError, match="already holds a finished pre-training"):
        pretrain_main(pretrain_args(tiny_fashion_root, federated_dae)[1:])


def test_noise_is_seeded_per_client_and_round() -> None:
    torch.manual_seed(0)
    model = ClientDAE(model="mlp")
    x = torch.zeros(4, 1, 28, 28)
    draws = []
    for seed in (noise_seed(0, 1, 2), noise_seed(0, 1, 2), noise_seed(0, 2, 2)):
        model.seed_noise(seed)
        draws.append(model.corrupt(x))
    assert torch.equal(draws[0], draws[1])
    assert not torch.equal(draws[0], draws[2])
    assert noise_seed(0, 1, 2) != noise_seed(0, 1, 3)
    # the same seed gives the same noise whatever the global generator did in between
    model.seed_noise(7)
    first = model.corrupt(x)
    torch.rand(100)
    model.seed_noise(7)
    assert torch.equal(model.corrupt(x), first)


def test_wandb_gets_the_rounds_summary_and_the_checkpoint_artifact(federated_dae: Path) -> None:
    """One offline W&B run (W&B is on by default, offline): each round's reconstruction loss,
    bytes and FLOPs with `round` as the step, the cost in its summary, and dae.ckpt as the
    `dae-checkpoint` Artifact that a ticket pruned from it names as its input."""
    (part,) = sorted((federated_dae / "wandb").glob("offline-run-*"))
    logged = read_offline_run(part)
    assert logged["run"]["job_type"] == "pretrain"
    assert logged["run"]["name"] == "federated_dae-seed0"
    assert logged["config"]["federation"]["rounds"] == 2 and logged["config"]["engine"] == "local"
    history = rows(federated_dae)
    assert [row["round"] for row in logged["history"]] == [1, 2]
    for ours, written in zip(logged["history"], history, strict=True):
        assert ours["comm/down_bytes"] == ours["comm/up_bytes"] == 3 * PAYLOAD
        assert ours["test/recon_loss"] == pytest.approx(float(written["test/recon_loss"]))
        assert ours["compute/flops"] == float(written["compute/flops"])
    cost = json.loads((federated_dae / "summary.json").read_text())["federated_pretraining"]
    assert logged["summary"]["federated_pretraining"] == cost
    assert logged["summary"]["total_bytes"] == 4 * 3 * PAYLOAD
    (artifact,) = logged["artifacts"]
    sha = file_sha256(federated_dae / "dae.ckpt")
    assert artifact["type"] == DAE_ARTIFACT
    assert artifact["name"] == artifact_name(DAE_ARTIFACT, sha)
    assert artifact["files"] == ["dae.ckpt"]
    assert artifact["metadata"]["holdout"]["source"] == "clients"
    assert artifact["metadata"]["federated_pretraining"] == cost
    # the run id is in the checkpoint, for --resume
    state = torch.load(federated_dae / "checkpoint.pt", weights_only=False)
    assert state["wandb_run_id"] == logged["run"]["id"]


def test_a_killed_pretraining_resumes_its_wandb_run_to_the_same_checkpoint(
    federated_dae: Path, tiny_fashion_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed before round 2, resumed: the same W&B run id continues (rounds 1 and 2 each
    logged once over its two parts), and dae.ckpt's weights are the uninterrupted run's."""
    from tests.reliability.test_resume import SimulatedKill, stop_when

    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        stop_when(patch, "run_round", lambda engine, r, *rest: r == 2)
        with pytest.raises(SimulatedKill):
            main(pretrain_args(tiny_fashion_root, out))
    run_id = torch.load(out / "checkpoint.pt", weights_only=False)["wandb_run_id"]
    main(pretrain_args(tiny_fashion_root, out, "--resume"))
    assert offline_run_ids(out / "wandb") == [run_id]
    parts = offline_run_parts(out / "wandb", run_id)
    rounds = [[row["round"] for row in read_offline_run(p)["history"]] for p in parts]
    assert rounds == [[1], [2]]
    assert len(read_offline_run(parts[-1])["artifacts"]) == 1
    ours = torch.load(out / "dae.ckpt", weights_only=True)["state_dict"]
    theirs = torch.load(federated_dae / "dae.ckpt", weights_only=True)["state_dict"]
    for name, value in theirs.items():
        assert torch.equal(ours[name], value), name


def test_a_run_recorded_before_engine_and_wandb_existed_still_resumes(tmp_path: Path) -> None:
    """config.yaml of a pre-training started before `engine`, `flower` and `wandb` were
    options: resuming it with today's defaults is the same run; another engine is not."""
    from dataclasses import replace

    import yaml

    from fl_lightning.app.federate_checks import check_resume_config
    from fl_lightning.app.federated_pretraining import OPTION_DEFAULTS, plain_config_text
    from fl_lightning.federated.run_files import RunFiles

    config = FederatedPretrainConfig(output=str(tmp_path / "run"))
    old = yaml.safe_load(plain_config_text(config))
    for option in ("engine", "flower", "wandb"):
        del old[option]
    files = RunFiles(config.output)
    state = {"config": yaml.safe_dump(old)}
    check_resume_config(files, plain_config_text(config), state, OPTION_DEFAULTS)
    flower = plain_config_text(replace(config, engine="flower"))
    with pytest.raises(UsageError, match=r"options differ .* engine='flower' \(was 'local'\)"):
        check_resume_config(files, flower, state, OPTION_DEFAULTS)
