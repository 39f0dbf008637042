"""How a round's downloads reach the clients and their uploads come back: the engine's transport.

The engine owns the round (sampling, encoding, faults drawn, decoding, validation, FedAvg,
evaluation, meters, files); a transport only moves payloads. It gets the round's `ClientJob`s
and returns one reply per job, in job order: a `ClientResult`, or the exception that stands for
a failed client. It tells the engine, through `RoundHost`, when a download was really handed
over (it is counted then) and when a client lost the mask it was sent.

- `InProcess` (the default): every client trains here, one after the other, through the
  engine's own `client_step`.
- `flower.FlowerGrid` / `flower.FlowerSimulation`: each job travels as a Flower message to the
  SuperNode of its client, over a deployment's grid or Flower's simulation engine.

`serve` wraps the engine's whole loop, so that a transport can own a runtime (Flower's
simulation starts Ray, runs the loop inside its ServerApp and stops Ray afterwards).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import torch

from fl_lightning.federated.client import ClientConfig, ClientResult
from fl_lightning.federated.client_job import ClientJob
from fl_lightning.federated.upload import UploadCodec

T = TypeVar("T")


@dataclass(frozen=True)
class ClientSetup:
    """What every client of one federation is told besides its download (fixed for a run).

    Args:
        num_clients: clients in the federation (one SuperNode each on Flower).
        client: local training settings.
        upload: how clients encode their updates (codec, top-k, error feedback, rounding).
        rounding_seed: the seed of the uploads' stochastic rounding (`seeds.rounding`;
            `upload.rounding_generator` derives each client's and round's generator).
        sparse: whether the run has a mask (a dense run's clients never need one).
        flops_per_example: training FLOPs of one example through the masked model.
        data_order: the data-order seed (`sampling.data_order_seed` derives each client's).
        data_args: `FederatedDataModule` keyword arguments (a remote client rebuilds the data).
        model_args: the workspace model's keyword arguments (a remote client rebuilds it).
        workspace: the kind of workspace model (`workspace.WORKSPACES`): `classifier`, or
            `dae` for a federated DAE pre-training.
    """

    num_clients: int
    client: ClientConfig
    upload: UploadCodec
    rounding_seed: int
    sparse: bool
    flops_per_example: float
    data_order: int
    data_args: dict[str, Any]
    model_args: dict[str, Any]
    workspace: str = "classifier"


class RoundHost(Protocol):
    """The engine, as a transport sees it during `serve` and `deliver`."""

    @property
    def setup(self) -> ClientSetup:
        """The federation's client settings."""
        ...

    def train_here(self, r: int, job: ClientJob) -> ClientResult:
        """Run `job`'s client step in this process (the in-process transport's whole work)."""
        ...

    def sent(self, job: ClientJob) -> None:
        """`job`'s download was handed over: count it; its client now knows the mask."""
        ...

    def mask_lost(self, client_id: int) -> None:
        """The client does not hold the mask (any more): its next download carries it."""
        ...

    def client_done(self) -> None:
        """One more client of this round has answered (or failed): progress display."""
        ...

    def residual(self, client_id: int) -> torch.Tensor | None:
        """The client's error-feedback residual as the engine keeps it (None: none yet)."""
        ...

    def keep_residual(self, client_id: int, residual: torch.Tensor) -> None:
        """Keep the client's new error-feedback residual (checkpointed with the run)."""
        ...


class Transport(Protocol):
    """Moves a round's downloads to the clients and their replies back (see module doc)."""

    def serve(self, host: RoundHost, loop: Callable[[], T]) -> T:
        """Run the engine's `loop` with this transport connected; return what it returns."""
        ...

    def deliver(
        self, r: int, jobs: list[ClientJob], host: RoundHost
    ) -> list[ClientResult | Exception]:
        """Deliver each job's download; gather the replies in job order (an exception: failed)."""
        ...


class InProcess:
    """Every client trains in the engine's process, one after the other."""

    def serve(self, host: RoundHost, loop: Callable[[], T]) -> T:
        return loop()

    def deliver(
        self, r: int, jobs: list[ClientJob], host: RoundHost
    ) -> list[ClientResult | Exception]:
        replies: list[ClientResult | Exception] = []
        for job in jobs:
            host.sent(job)
            try:
                replies.append(host.train_here(r, job))
            except Exception as err:  # a client may fail in any way; the round goes on
                replies.append(err)
            host.client_done()
        return replies
