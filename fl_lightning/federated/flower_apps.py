"""fl_lightning's Flower `ClientApp`, the one every SuperNode runs (simulated or deployed).

`client_app` handles three message types:

- `query`: replies with the node's `partition-id` (and `num-partitions`), so the server can map
  the client ids it samples to node ids.
- `train`: rebuilds the client's data and workspace model (`workspace.build_workspace`: a
  Classifier, or a DAE whose noise the task seeds) from the task (cached per process),
  decodes the download's mask (remembering the mask of a first download in the node's Context),
  runs `client.client_step` -- the very step the local engine runs -- with the task's torch
  thread count, and replies with the upload's bytes and its measurements. The node's
  error-feedback residual lives in its Context state between rounds and is never sent, unless
  the task says the server keeps it (`server_residuals`, Flower's simulation): then the task
  brings it and the reply takes the new one back. An exception becomes Flower's error reply.
- `evaluate`: accuracy and loss of the downloaded model on the client's own training share (a
  DAE: its reconstruction loss, no accuracy).

The deployment ServerApp lives in `fl_lightning.commands.flower_server` (it builds the run).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.federated.client import ClientResult, client_step, quiet_lightning
from fl_lightning.federated.codec import decode, read_header
from fl_lightning.federated.flower_messages import (
    METRICS,
    NODE,
    ClientTask,
    MaskUnknown,
    result_content,
)
from fl_lightning.federated.upload import rounding_generator
from fl_lightning.federated.workspace import build_workspace, seeded_noise
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.mask import Mask

#: Key of the node's mask in its Context state (kept between rounds of one run).
MASK_STATE = "fl-lightning-mask"
#: Key of the node's error-feedback residual in its Context state.
RESIDUAL_STATE = "fl-lightning-residual"
#: Optional node-config key: where this node finds the dataset files (overrides data.root).
DATA_ROOT = "data-root"

client_app = ClientApp()


@functools.lru_cache(maxsize=2)
def _data_module(arguments: str) -> FederatedDataModule:
    """The federation's data, built once per process for the same arguments."""
    data = FederatedDataModule(**json.loads(arguments))
    data.setup()
    return data


@functools.lru_cache(maxsize=2)
def _workspace_model(kind: str, arguments: str) -> Any:
    """A workspace model of `kind` to train in (its weights are overwritten from each
    download)."""
    return build_workspace(kind, json.loads(arguments))


def partition_id(context: Context) -> int:
    """The client this SuperNode stands for (`--node-config "partition-id=N ..."`)."""
    if "partition-id" not in context.node_config:
        raise ValueError(
            "this SuperNode has no partition-id: start it with "
            '--node-config "partition-id=<client id> num-partitions=<data.num_clients>"'
        )
    return int(context.node_config["partition-id"])


def _data_for(task: ClientTask, context: Context) -> FederatedDataModule:
    arguments = json.loads(task.data)
    if DATA_ROOT in context.node_config:
        arguments["root"] = str(context.node_config[DATA_ROOT])
    return _data_module(ClientTask.arguments(arguments))


def _known_mask(context: Context) -> Mask | None:
    record = context.state.array_records.get(MASK_STATE)
    if record is None:
        return None
    return Mask(
        {name: torch.from_numpy(array.numpy().astype(bool)) for name, array in record.items()}
    )


def _remember_mask(context: Context, mask: Mask) -> None:
    context.state[MASK_STATE] = ArrayRecord(
        {name: Array(m.numpy().astype(np.bool_)) for name, m in mask.items()}
    )


def _open_task(message: Message, context: Context) -> tuple[ClientTask, Classifier, Mask]:
    """The task, the workspace model and the mask to decode with (a first download's is kept)."""
    quiet_lightning()
    task = ClientTask.from_content(message.content)
    node = partition_id(context)
    if node != task.client_id:
        raise ValueError(f"task for client {task.client_id} reached the node of client {node}")
    model = _workspace_model(task.workspace, task.model)
    if not task.sparse:
        return task, model, Mask({})
    if read_header(task.payload).with_mask:
        template = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        _, mask = decode(task.payload, template, None)
        _remember_mask(context, mask)
        return task, model, mask
    known = _known_mask(context)
    if known is None:
        raise MaskUnknown(task.client_id)
    return task, model, known


def _residual(context: Context) -> torch.Tensor | None:
    record = context.state.array_records.get(RESIDUAL_STATE)
    if record is None:
        return None
    return torch.from_numpy(record["residual"].numpy().astype(np.float32).copy())


def _remember_residual(context: Context, residual: torch.Tensor) -> None:
    context.state[RESIDUAL_STATE] = ArrayRecord({"residual": Array(residual.numpy())})


@client_app.query()
def query(message: Message, context: Context) -> Message:
    """Reply with this node's partition id and partition count."""
    info = ConfigRecord({"partition-id": partition_id(context)})
    if "num-partitions" in context.node_config:
        info["num-partitions"] = int(context.node_config["num-partitions"])
    return Message(RecordDict({NODE: info}), reply_to=message)


def _use_threads(threads: int) -> None:
    """torch's intra-op threads as the task asks (0: leave them); set once per process."""
    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@client_app.train()
def train(message: Message, context: Context) -> Message:
    """Run `client_step` on this node's partition; reply with the upload."""
    task, model, mask = _open_task(message, context)
    _use_threads(task.threads)
    with seeded_noise(model, task.noise_seed):
        result = _client_step(task, model, mask, context)
    if result.residual is not None and not task.server_residuals:
        # saved by Flower with the Context when this app returns
        _remember_residual(context, result.residual)
        result.residual = None  # the node's own state: it is not sent
    return Message(result_content(result), reply_to=message)


def _client_step(task: ClientTask, model: Classifier, mask: Mask, context: Context) -> ClientResult:
    return client_step(
        client_id=task.client_id,
        payload=task.payload,
        fault=task.fault,
        data_seed=task.data_seed,
        model=model,
        mask=mask,
        data=_data_for(task, context),
        config=task.client,
        flops_per_example=task.flops_per_example,
        upload=task.upload,
        residual=task.residual if task.server_residuals else _residual(context),
        generator=rounding_generator(task.rounding_seed, task.round, task.client_id),
    )


@client_app.evaluate()
def evaluate(message: Message, context: Context) -> Message:
    """Accuracy and loss of the downloaded model on this client's training share."""
    task, model, mask = _open_task(message, context)
    template = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    state, _ = decode(task.payload, template, mask)
    model.load_state_dict(state)
    data = _data_for(task, context)
    loader = data.client_dataloader(task.client_id, seed=task.data_seed)
    metrics = MetricRecord({"num-examples": data.num_examples(task.client_id)})
    if isinstance(model, Classifier):
        metrics["eval-acc"], metrics["eval-loss"] = model.evaluate(loader)
    else:  # a DAE: the reconstruction loss of its noisy images, no accuracy
        metrics["eval-loss"] = model.reconstruction_loss(loader)
    return Message(RecordDict({METRICS: metrics}), reply_to=message)
