"""fl_lightning's ClientApp and Flower messages: tasks and results survive the round trip, the
ClientApp trains like `run_client_update`, keeps the mask and its error-feedback residual in the
node's Context; FlowerOptions; missing or mismatched SuperNodes are usage errors.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import cast

import numpy as np
import pytest
import torch

from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.errors import UsageError
from fl_lightning.federated.client import ClientConfig, ClientResult, run_client_update
from fl_lightning.federated.codec import encode
from fl_lightning.federated.flower import FlowerGrid
from fl_lightning.federated.flower_apps import RESIDUAL_STATE, client_app
from fl_lightning.federated.flower_messages import (
    ClientTask,
    MaskUnknown,
    result_content,
    result_from_content,
)
from fl_lightning.federated.flower_options import FlowerOptions
from fl_lightning.federated.upload import UploadCodec, rounding_generator
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.magnitude import magnitude_prune, prunable_names
from fl_lightning.pruning.mask import Mask
from tests.federated.flower_helpers import (
    LoopbackGrid,
    make_context,
    make_message,
    make_task,
    tiny_engine,
)

pytestmark = pytest.mark.usefixtures("flower_task_identity")


def test_task_and_result_survive_the_message_round_trip() -> None:
    task = ClientTask(
        round=3,
        client_id=7,
        payload=b"\x00\x01\xffodd",
        data_seed=5,
        fault="nan",
        upload=UploadCodec(codec="int4", topk=0.1, error_feedback=True, rounding="stochastic"),
        rounding_seed=3,
        sparse=False,
        flops_per_example=1.5,
        client=ClientConfig(local_epochs=2, batch_size=8, timeout=None),
        data='{"a": 1}',
        model='{"b": 2}',
    )
    assert ClientTask.from_content(task.to_content()) == task
    result = ClientResult(
        client_id=7, payload=b"xyz" * 5, num_examples=12, train_loss=0.25, flops=3e6, seconds=0.5
    )
    assert result_from_content(result_content(result), 7) == result


def test_client_app_trains_like_run_client_update_and_keeps_the_mask(
    tiny_fashion_root: Path,
) -> None:
    torch.manual_seed(0)
    model = Classifier(model="mlp", lr=0.05)
    mask = magnitude_prune(model, 0.8, names=prunable_names(model))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for name, m in mask.items():
        state[name] = state[name] * m
    first = encode(state, mask, with_mask=True)
    task = make_task(tiny_fashion_root, first)
    data = FederatedDataModule(**json.loads(task.data))
    data.setup()
    expected = run_client_update(
        client_id=2,
        payload=first,
        model=model,
        mask=Mask({}),
        num_examples=data.num_examples(2),
        dataloader=data.client_dataloader(2, seed=11, batch_size=16),
        config=task.client,
        flops_per_example=10.0,
    )
    context = make_context()
    reply = client_app(make_message(task), context)
    got = result_from_content(reply.content, 2)
    assert got.payload == expected.payload
    assert (got.num_examples, got.flops) == (expected.num_examples, 10.0 * expected.num_examples)
    # the node now knows the mask: a values-only download decodes
    values_only = encode(state, mask, with_mask=False)
    reply = client_app(make_message(make_task(tiny_fashion_root, values_only)), context)
    assert len(result_from_content(reply.content, 2).payload) == len(values_only)
    # a node that lost its state cannot decode one, and says so
    with pytest.raises(MaskUnknown):
        client_app(make_message(make_task(tiny_fashion_root, values_only)), make_context())
    # a task for another client is refused
    with pytest.raises(ValueError, match="reached the node of client 1"):
        client_app(make_message(task), make_context(partition=1))
    # a node may keep the data elsewhere (node-config data-root)
    moved = dataclasses.replace(task, data=task.data.replace(str(tiny_fashion_root), "/nowhere"))
    elsewhere = make_context()
    elsewhere.node_config["data-root"] = str(tiny_fashion_root)
    reply = client_app(make_message(moved), elsewhere)
    assert result_from_content(reply.content, 2).payload == expected.payload
    reply = client_app(make_message(task, "evaluate"), make_context())
    metrics = reply.content.metric_records["metrics"]
    assert 0.0 <= cast(float, metrics["eval-acc"]) <= 1.0
    assert metrics["num-examples"] == data.num_examples(2)


def test_client_app_keeps_its_error_feedback_residual_in_the_context(
    tiny_fashion_root: Path,
) -> None:
    """The node's residual is its own state (never sent), equal to the local engine's client's."""
    torch.manual_seed(0)
    model = Classifier(model="mlp", lr=0.05)
    mask = magnitude_prune(model, 0.8, names=prunable_names(model))
    state = {
        k: v.clone() * mask[k] if k in mask else v.clone() for k, v in model.state_dict().items()
    }
    first = encode(state, mask, with_mask=True)
    upload = UploadCodec(codec="int4", topk=0.1, error_feedback=True, rounding="stochastic")
    task = dataclasses.replace(make_task(tiny_fashion_root, first), upload=upload, rounding_seed=3)
    data = FederatedDataModule(**json.loads(task.data))
    data.setup()
    expected = run_client_update(
        client_id=2,
        payload=first,
        model=model,
        mask=Mask({}),
        num_examples=data.num_examples(2),
        dataloader=data.client_dataloader(2, seed=11, batch_size=16),
        config=task.client,
        flops_per_example=10.0,
        upload=upload,
        generator=rounding_generator(3, 1, 2),
    )
    context = make_context()
    reply = client_app(make_message(task), context)
    assert result_from_content(reply.content, 2).payload == expected.payload
    assert expected.residual is not None and bool(expected.residual.abs().sum() > 0)
    kept = context.state.array_records[RESIDUAL_STATE]["residual"].numpy()
    assert np.array_equal(kept, expected.residual.numpy())


def test_flower_options_check_values_and_map_to_client_resources() -> None:
    options = FlowerOptions(num_cpus=1, num_gpus=0.5, ray_cpus=2)
    config = options.backend_config()
    assert config["client_resources"] == {"num_cpus": 1, "num_gpus": 0.5}
    assert config["init_args"]["num_cpus"] == 2
    assert config["init_args"]["log_to_driver"] is False
    for bad in (
        {"num_cpus": 0},
        {"num_gpus": -1},
        {"ray_cpus": 1, "num_cpus": 2},
        {"round_timeout": 0},
        {"node_timeout": 0},
    ):
        with pytest.raises(UsageError, match=r"flower\."):
            FlowerOptions(**bad)  # type: ignore[arg-type]


def test_missing_or_mismatched_supernodes_are_usage_errors(tiny_fashion_root: Path) -> None:
    options = FlowerOptions(node_timeout=0.1)
    few = tiny_engine(tiny_fashion_root, transport=FlowerGrid(LoopbackGrid(2, 4), options))
    with pytest.raises(UsageError, match=r"2 of data.num_clients=4 clients have no SuperNode"):
        few.run()
    other = tiny_engine(tiny_fashion_root, transport=FlowerGrid(LoopbackGrid(4, 5), options))
    with pytest.raises(UsageError, match=r"num-partitions=5, but data.num_clients=4"):
        other.run()
