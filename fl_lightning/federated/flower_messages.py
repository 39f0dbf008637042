"""What fl_lightning's ServerApp and ClientApp say to each other, as Flower `RecordDict`s.

A task (message type `train` or `evaluate`) carries::

    "payload": ArrayRecord {"payload": uint8 array}   the codec's bytes, unchanged
    "config":  ConfigRecord  round, client-id, data-seed, fault, rounding-seed, sparse,
               flops-per-example, threads, workspace (the model's kind), noise-seed (a DAE's;
               absent for a classifier), and four JSON texts: upload (UploadCodec), client
               (ClientConfig), data (FederatedDataModule arguments), model (the workspace
               model's arguments)

A `train` reply carries the upload the same way plus a MetricRecord "metrics" (num-examples,
train-loss, flops, seconds); an `evaluate` reply carries "metrics" (num-examples, eval-acc,
eval-loss); a `query` reply carries ConfigRecord "node" (partition-id, num-partitions).

When the server keeps the clients' error-feedback residuals (`server-residuals`, Flower's
simulation: the run's checkpoint then holds them, as the local engine's does, so a resumed run
is identical), a `train` task carries the client's residual as ArrayRecord "residual" (none
before its first upload) and its reply carries the new one the same way. That is run state, not
traffic: it is not counted, and a deployment's nodes keep their residual to themselves.

The payload travels as `numpy.frombuffer(payload, uint8)`: the bytes the meters count are the
bytes the client decodes. Flower's own envelope (message metadata, array header) is not
counted, as the local engine counts no envelope either.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict

from fl_lightning.federated.client import ClientConfig, ClientResult
from fl_lightning.federated.upload import UploadCodec

PAYLOAD = "payload"
CONFIG = "config"
METRICS = "metrics"
NODE = "node"
RESIDUAL = "residual"
#: Marks the error of a ClientApp asked to decode a values-only payload without knowing the mask.
MASK_UNKNOWN = "fl-lightning: mask unknown"


class MaskUnknown(RuntimeError):
    """A values-only download reached a node that holds no mask (its state was lost)."""

    def __init__(self, client_id: int) -> None:
        super().__init__(
            f"{MASK_UNKNOWN}: client {client_id} got a payload without mask and knows none"
        )


def payload_record(payload: bytes) -> ArrayRecord:
    """The codec's bytes as a one-entry ArrayRecord (a uint8 array over the same bytes)."""
    return ArrayRecord({PAYLOAD: Array(np.frombuffer(payload, dtype=np.uint8))})


def payload_bytes(content: RecordDict) -> bytes:
    """The codec's bytes carried by `content` (inverse of `payload_record`)."""
    record = content.array_records[PAYLOAD]
    return bytes(record[PAYLOAD].numpy().tobytes())


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True)


@dataclass(frozen=True)
class ClientTask:
    """One client's work order: the download and everything needed to train or evaluate on it.

    Args:
        round: the federation round (1-based).
        client_id: the client (= the SuperNode's `partition-id`) the task is for.
        payload: the encoded global model (with the mask on a first download).
        data_seed: the client's data-order seed for this round (`sampling.data_order_seed`).
        fault: the fault to inject (`raise`, `empty`, `corrupt`, `nan`) or "" for none.
        upload: how the client encodes its update (codec, top-k, error feedback, rounding).
        rounding_seed: the seed of the upload's stochastic rounding (`seeds.rounding`).
        sparse: whether the run has a mask (a dense run's clients never need one).
        flops_per_example: training FLOPs of one example through the masked model.
        client: local training settings.
        data: `FederatedDataModule` keyword arguments (JSON text, keys sorted).
        model: the workspace model's keyword arguments (JSON text, keys sorted).
        threads: torch threads the client trains with (0: the node's own default).
        server_residuals: the server keeps the client's error-feedback residual: `residual`
            is it (None: zero), and the reply carries the new one (see the module doc).
        residual: the client's residual from its last upload, when `server_residuals`.
        workspace: the kind of workspace model `model` builds (`workspace.WORKSPACES`).
        noise_seed: the seed of this client's noise in this round (a DAE's corruption;
            None for a workspace without noise).
    """

    round: int
    client_id: int
    payload: bytes
    data_seed: int
    fault: str
    upload: UploadCodec
    rounding_seed: int
    sparse: bool
    flops_per_example: float
    client: ClientConfig
    data: str
    model: str
    threads: int = 0
    server_residuals: bool = False
    residual: torch.Tensor | None = None
    workspace: str = "classifier"
    noise_seed: int | None = None

    @staticmethod
    def arguments(obj: dict[str, Any]) -> str:
        """Keyword arguments as the JSON text that `data` and `model` hold."""
        return _dumps(obj)

    def to_content(self) -> RecordDict:
        config = ConfigRecord(
            {
                "round": self.round,
                "client-id": self.client_id,
                "data-seed": self.data_seed,
                "fault": self.fault,
                "upload": _dumps(asdict(self.upload)),
                "rounding-seed": self.rounding_seed,
                "sparse": self.sparse,
                "flops-per-example": float(self.flops_per_example),
                "client": _dumps(asdict(self.client)),
                "data": self.data,
                "model": self.model,
                "threads": self.threads,
                "server-residuals": self.server_residuals,
                "workspace": self.workspace,
            }
        )
        if self.noise_seed is not None:
            config["noise-seed"] = self.noise_seed
        content = RecordDict({PAYLOAD: payload_record(self.payload), CONFIG: config})
        if self.residual is not None:
            content[RESIDUAL] = residual_record(self.residual)
        return content

    @classmethod
    def from_content(cls, content: RecordDict) -> ClientTask:
        config = content.config_records[CONFIG]
        noise = config.get("noise-seed")
        upload = UploadCodec(**json.loads(str(config["upload"])))
        upload.validate("task upload")
        return cls(
            round=int(config["round"]),  # type: ignore[arg-type]
            client_id=int(config["client-id"]),  # type: ignore[arg-type]
            payload=payload_bytes(content),
            data_seed=int(config["data-seed"]),  # type: ignore[arg-type]
            fault=str(config["fault"]),
            upload=upload,
            rounding_seed=int(config["rounding-seed"]),  # type: ignore[arg-type]
            sparse=bool(config["sparse"]),
            flops_per_example=float(config["flops-per-example"]),  # type: ignore[arg-type]
            client=ClientConfig(**json.loads(str(config["client"]))),
            data=str(config["data"]),
            model=str(config["model"]),
            threads=int(config.get("threads", 0)),  # type: ignore[arg-type]
            server_residuals=bool(config.get("server-residuals", False)),
            residual=residual_from(content),
            workspace=str(config.get("workspace", "classifier")),
            noise_seed=None if noise is None else int(noise),  # type: ignore[arg-type]
        )


def residual_record(residual: torch.Tensor) -> ArrayRecord:
    """An error-feedback residual (a flat float32 vector) as a one-entry ArrayRecord."""
    return ArrayRecord({RESIDUAL: Array(residual.detach().cpu().float().numpy())})


def residual_from(content: RecordDict) -> torch.Tensor | None:
    """The residual `content` carries (`residual_record`), or None."""
    record = content.array_records.get(RESIDUAL)
    if record is None:
        return None
    return torch.from_numpy(record[RESIDUAL].numpy().astype(np.float32).copy())


def result_content(result: ClientResult) -> RecordDict:
    """A `train` reply's content: the upload and what the server measures about it (and the
    client's new residual, when `result.residual` is set: the server keeps it)."""
    metrics = MetricRecord(
        {
            "num-examples": int(result.num_examples),
            "train-loss": float(result.train_loss),
            "flops": float(result.flops),
            "seconds": float(result.seconds),
        }
    )
    content = RecordDict({PAYLOAD: payload_record(result.payload), METRICS: metrics})
    if result.residual is not None:
        content[RESIDUAL] = residual_record(result.residual)
    return content


def result_from_content(content: RecordDict, client_id: int) -> ClientResult:
    """The `ClientResult` a `train` reply carries (inverse of `result_content`)."""
    metrics = content.metric_records[METRICS]
    return ClientResult(
        client_id=client_id,
        payload=payload_bytes(content),
        num_examples=int(metrics["num-examples"]),  # type: ignore[arg-type]
        train_loss=float(metrics["train-loss"]),  # type: ignore[arg-type]
        flops=float(metrics["flops"]),  # type: ignore[arg-type]
        seconds=float(metrics["seconds"]),  # type: ignore[arg-type]
        residual=residual_from(content),
    )
