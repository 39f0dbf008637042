"""Federated DAE pre-training through Flower: the same clients, bytes and weights as the local
engine, over an in-process grid (fast) and Flower's simulation engine (`fl-lightning pretrain
--federated --engine flower`, slow). The ClientApp trains a DAE workspace whose noise the task
seeds as the local engine seeds it, so the uploads are the same bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fl_lightning.cli import main
from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.federated.client import ClientConfig
from fl_lightning.federated.codec import encode
from fl_lightning.federated.config import FederationConfig, Seeds
from fl_lightning.federated.dae_client import TEST_RECON_LOSS, ClientDAE, FederatedDAE, noise_seed
from fl_lightning.federated.flower import FlowerGrid
from fl_lightning.federated.flower_apps import client_app
from fl_lightning.federated.flower_messages import ClientTask
from fl_lightning.federated.transport import Transport
from fl_lightning.federated.workspace import build_workspace, client_noise_seed
from fl_lightning.pruning.mask import Mask
from fl_lightning.tracking.offline_reader import read_offline_run
from tests.federated.flower_helpers import (
    LoopbackGrid,
    make_context,
    make_message,
    make_task,
    metric_rows,
    recording,
    sampling_recorded,
    steady,
)
from tests.federated.test_federated_pretraining import PAYLOAD, pretrain_args

pytestmark = pytest.mark.usefixtures("flower_task_identity")

#: Per-round columns that must be equal on both engines (the bytes are the payloads' lengths).
SAME_BYTES = (
    "comm/down_bytes",
    "comm/up_bytes",
    "comm/bytes",
    "comm/cum_down_bytes",
    "comm/cum_up_bytes",
    "comm/cum_bytes",
    "compute/flops",
    "clients/participated",
    "clients/failed",
)


def tiny_dae_engine(root: Path, transport: Transport | None = None) -> FederatedDAE:
    """A federated MLP DAE over 4 tiny clients, 2 per round, 2 rounds (same start each call)."""
    torch.manual_seed(0)
    model = ClientDAE(model="mlp", images_to_log=0)
    data = FederatedDataModule(
        root=str(root),
        num_clients=4,
        server_images=0,
        max_client_examples=20,
        max_test_examples=100,
        test_batch_size=100,
    )
    return FederatedDAE(
        model=model,
        initial_state={k: v.detach().clone() for k, v in model.state_dict().items()},
        mask=Mask({}),
        data=data,
        client=ClientConfig(batch_size=8),
        federation=FederationConfig(rounds=2, clients_per_round=2),
        seeds=Seeds(sampling=3, data_order=5),
        method="federated_dae",
        transport=transport,
    )


def test_pretraining_over_a_flower_grid_equals_the_local_engine(tiny_fashion_root: Path) -> None:
    """In one process (same torch threads) the two transports are bit-identical: the same
    clients, bytes, reconstruction losses and final weights."""
    local = tiny_dae_engine(tiny_fashion_root)
    flower = tiny_dae_engine(tiny_fashion_root, FlowerGrid(LoopbackGrid(4)))
    local_sampled, flower_sampled = recording(local), recording(flower)
    local.run()
    flower.run()
    assert flower_sampled == local_sampled
    ours, theirs = steady(flower.history), steady(local.history)
    assert ours == theirs  # bytes, FLOPs, train and test reconstruction losses
    assert [row["comm/down_bytes"] for row in ours] == [2 * PAYLOAD, 2 * PAYLOAD]
    assert all(row[TEST_RECON_LOSS] > 0 for row in ours)
    assert flower.global_state.keys() == local.global_state.keys()
    for name, value in local.global_state.items():
        assert torch.equal(flower.global_state[name], value), name


def test_a_dae_task_names_its_workspace_and_noise_seed(tiny_fashion_root: Path) -> None:
    setup = tiny_dae_engine(tiny_fashion_root).setup
    assert setup.workspace == "dae" and "dae_checkpoint" not in setup.model_args
    seed = client_noise_seed(setup.workspace, setup.data_order, 2, 3)
    assert seed == noise_seed(5, 2, 3)  # as `FederatedDAE.train_here` seeds client 3, round 2
    assert client_noise_seed("classifier", 5, 2, 3) is None
    task = make_task(tiny_fashion_root, b"")
    dae = ClientTask(**{**vars(task), "workspace": "dae", "noise_seed": seed})
    back = ClientTask.from_content(dae.to_content())
    assert (back.workspace, back.noise_seed) == ("dae", seed)
    plain = ClientTask.from_content(task.to_content())  # a classifier's task: no noise
    assert (plain.workspace, plain.noise_seed) == ("classifier", None)
    model = build_workspace(setup.workspace, json.loads(ClientTask.arguments(setup.model_args)))
    assert isinstance(model, ClientDAE)
    with pytest.raises(ValueError, match="unknown workspace kind 'gan'"):
        build_workspace("gan", {})


@pytest.mark.slow
def test_pretrain_through_flower_simulation_gives_the_local_bytes(
    tiny_fashion_root: Path, tmp_path: Path
) -> None:
    """`fl-lightning pretrain --federated --engine flower` (Ray; ~1 minute) against the local
    engine on the smoke config (6 clients, 3 per round, 2 rounds): the same clients and bytes
    per round, and the same final DAE bit for bit. Both train with one torch thread (Ray's
    actors with `flower.num_cpus` = 1 threads): another thread count sums in another order
    (8 threads against 1 moved this DAE's weights by ~6e-6), not a difference of Flower's.
    The Flower run's W&B run (logged from Flower's ServerApp thread) has the same rounds."""
    import ray

    local, flower = tmp_path / "local", tmp_path / "flower"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the local clients' and both servers' evaluation
    try:
        with sampling_recorded() as local_sampled:
            main(pretrain_args(tiny_fashion_root, local, "--wandb.enabled", "false"))
        with sampling_recorded() as flower_sampled:
            main(
                pretrain_args(
                    tiny_fashion_root, flower, "--engine", "flower", "--flower.num_cpus", "1",
                    "--flower.ray_cpus", "2",
                )
            )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert not ray.is_initialized()
    assert flower_sampled == local_sampled and len(local_sampled) == 2
    ours, theirs = metric_rows(flower), metric_rows(local)
    for key in SAME_BYTES:
        assert [r[key] for r in ours] == [r[key] for r in theirs], key
    assert [int(r["comm/up_bytes"]) for r in ours] == [3 * PAYLOAD, 3 * PAYLOAD]
    assert [r[TEST_RECON_LOSS] for r in ours] == [r[TEST_RECON_LOSS] for r in theirs]
    summary = json.loads((flower / "summary.json").read_text())
    local_summary = json.loads((local / "summary.json").read_text())
    for key in ("down_bytes", "up_bytes", "total_bytes", "client_flops", "rounds"):
        assert summary[key] == local_summary[key], key
    ours_ckpt = torch.load(flower / "dae.ckpt", weights_only=True)["state_dict"]
    theirs_ckpt = torch.load(local / "dae.ckpt", weights_only=True)["state_dict"]
    assert ours_ckpt.keys() == theirs_ckpt.keys()
    for name, value in theirs_ckpt.items():
        assert torch.equal(ours_ckpt[name], value), name
    (part,) = (flower / "wandb").glob("offline-run-*")
    logged = read_offline_run(part)
    assert [row["comm/up_bytes"] for row in logged["history"]] == [3 * PAYLOAD, 3 * PAYLOAD]
    assert logged["config"]["engine"] == "flower" and len(logged["artifacts"]) == 1


def test_the_client_app_evaluates_a_dae_by_its_reconstruction_loss(
    tiny_fashion_root: Path,
) -> None:
    """An `evaluate` task of a DAE: the downloaded DAE's reconstruction loss on the client's
    images (fixed noise), the loss the server computes for the same model; no accuracy."""
    engine = tiny_dae_engine(tiny_fashion_root)
    setup = engine.setup
    payload = encode(engine.global_state, Mask({}), with_mask=False, codec="float32")
    task = ClientTask(
        **{
            **vars(make_task(tiny_fashion_root, payload)),
            "sparse": False,
            "data": ClientTask.arguments(setup.data_args),
            "model": ClientTask.arguments(setup.model_args),
            "workspace": "dae",
        }
    )
    reply = client_app(make_message(task, "evaluate"), make_context())
    metrics = reply.content.metric_records["metrics"]
    assert "eval-acc" not in metrics
    engine.model.load_state_dict(engine.global_state)
    loader = engine.data.client_dataloader(2, seed=task.data_seed)
    assert metrics["eval-loss"] == pytest.approx(engine.model.reconstruction_loss(loader))
    assert metrics["num-examples"] == engine.data.num_examples(2) == 20
