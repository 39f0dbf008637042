"""One client update: payload in -> fresh lean Trainer fit -> payload out, with its costs.

Both engines call `run_client_update`; only how the payload travels differs. The client
trains from the *decoded* download and returns the *encoded* upload, so the bytes that the
meters count are exactly what the model was rebuilt from.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from typing_extensions import override

from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.errors import UsageError
from fl_lightning.federated import entry_point_cache
from fl_lightning.federated.codec import decode
from fl_lightning.federated.faults import InjectedFault, faulty_upload
from fl_lightning.federated.upload import UploadCodec, encode_update
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.callback import MaskEnforcer
from fl_lightning.pruning.mask import Mask


@dataclass(frozen=True)
class ClientConfig:
    """How every client trains locally (FedAvg's E and B) and on what.

    Args:
        local_epochs: E, passes over the client's data per round (>= 1).
        batch_size: B, the local mini-batch size (>= 1).
        accelerator: Lightning accelerator for the client Trainer (`cpu`, `gpu`, `auto`: a
            GPU where one is present, else the CPU).
        timeout: seconds a client may train before it is stopped and counted as failed
            (checked after every batch); None for no limit.
    """

    local_epochs: int = 1
    batch_size: int = 32
    accelerator: str = "auto"
    timeout: float | None = None

    def __post_init__(self) -> None:
        for option in ("local_epochs", "batch_size"):
            if getattr(self, option) < 1:
                raise UsageError(f"client.{option}={getattr(self, option)!r} must be >= 1.")
        if self.timeout is not None and not self.timeout > 0:
            raise UsageError(
                f"client.timeout={self.timeout!r} must be > 0 seconds (or null for no limit)."
            )


@dataclass
class ClientResult:
    """What a client sends back (`payload`) and what the server measures about it.

    `residual` is the client's error-feedback state after this upload (None without error
    feedback); it stays with the client and is never sent.
    """

    client_id: int
    payload: bytes
    num_examples: int
    train_loss: float
    flops: float
    seconds: float
    residual: torch.Tensor | None = None


class ClientTimeout(RuntimeError):
    """A client trained for longer than `ClientConfig.timeout`."""


class _Deadline(Callback):
    """Stops a client's fit (by raising) once its time limit has passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.perf_counter()

    @override
    def on_train_batch_end(self, *args: Any, **kwargs: Any) -> None:
        elapsed = time.perf_counter() - self.start
        if elapsed > self.seconds:
            raise ClientTimeout(
                f"client exceeded its time limit ({elapsed:.1f} s > {self.seconds} s)"
            )


def lean_trainer(config: ClientConfig, callbacks: list[Callback]) -> pl.Trainer:
    """A fresh barebones Trainer (one per client): no logger, checkpoints, progress bar,
    summary or `self.log` bookkeeping, which would cost more than a small client's steps; the
    installed packages' entry points are scanned once per process (`entry_point_cache`)."""
    entry_point_cache.install()
    return pl.Trainer(
        max_epochs=config.local_epochs,
        accelerator=config.accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        barebones=True,
        callbacks=callbacks,
    )


def run_client_update(
    *,
    client_id: int,
    payload: bytes,
    model: Classifier,
    mask: Mask,
    dataloader: Iterable[Any],
    num_examples: int,
    config: ClientConfig,
    flops_per_example: float,
    upload: UploadCodec | None = None,
    residual: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> ClientResult:
    """Train `model` (a reusable workspace) from `payload` on one client's data; encode the result.

    Args:
        client_id: the client's id, for the result and error messages.
        payload: the server's encoded global model (with the mask on a first download).
        model: the workspace Classifier whose weights are overwritten from `payload`; the engine
            keeps one such model, never one per client.
        mask: the mask this client knows; a payload that carries a mask replaces it.
        dataloader: the client's labeled batches in this round's seeded order (a sized
            iterable: `FederatedDataModule.client_batches`, or a `DataLoader`).
        num_examples: examples in the client's data (FedAvg's weight).
        config: local epochs, batch size, accelerator, time limit.
        flops_per_example: training FLOPs of one example through the masked model.
        upload: how the update (local - downloaded weights) is encoded (default: float32).
        residual: the client's error-feedback residual from its last upload (None: zero).
        generator: the stochastic rounding's generator for this client and round.
    """
    start = time.perf_counter()
    template = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    state, mask = decode(payload, template, mask)
    model.load_state_dict(state)
    # a dense model has nothing to keep at zero: no callback, so no hooks to call every step
    callbacks: list[Callback] = [MaskEnforcer(mask)] if len(mask) else []
    if config.timeout is not None:
        callbacks.append(_Deadline(config.timeout))
    trainer = lean_trainer(config, callbacks)
    trainer.fit(model, train_dataloaders=dataloader)
    loss = model.epoch_train_loss
    local = {k: v.detach().to("cpu", torch.float32) for k, v in model.state_dict().items()}
    payload, residual = encode_update(
        local, state, mask, upload or UploadCodec(), residual=residual, generator=generator
    )
    return ClientResult(
        client_id=client_id,
        payload=payload,
        num_examples=num_examples,
        train_loss=loss,
        flops=flops_per_example * num_examples * config.local_epochs,
        seconds=time.perf_counter() - start,
        residual=residual,
    )


def client_step(
    *,
    client_id: int,
    payload: bytes,
    fault: str | None,
    data_seed: int,
    model: Classifier,
    mask: Mask,
    data: FederatedDataModule,
    config: ClientConfig,
    flops_per_example: float,
    upload: UploadCodec,
    residual: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> ClientResult:
    """One client's whole part of a round, wherever it runs (local engine or Flower ClientApp).

    An injected `raise` fault raises; otherwise the client's batches (in this round's seeded
    order, `FederatedDataModule.client_batches`) feed `run_client_update`, and an injected
    upload fault (`empty`, `corrupt`, `nan`) spoils the upload as a bad client or link would.

    Args:
        client_id: the client; its partition of `data` is trained on.
        payload: the download (the encoded global model).
        fault: the injected fault, or None (or "") for none.
        data_seed: the client's data-order seed for this round (`sampling.data_order_seed`).
        model, mask, config, flops_per_example, upload, residual, generator: as for
            `run_client_update`. The result's `residual` is the client's new error-feedback
            state: its caller keeps it (the local engine in its checkpoint, a Flower node in
            its Context), whatever an injected fault does to the upload.
        data: the federation's data (already set up).
    """
    if fault == "raise":
        raise InjectedFault(f"injected failure of client {client_id}")
    loader = data.client_batches(client_id, seed=data_seed, batch_size=config.batch_size)
    result = run_client_update(
        client_id=client_id,
        payload=payload,
        model=model,
        mask=mask,
        dataloader=loader,
        num_examples=data.num_examples(client_id),
        config=config,
        flops_per_example=flops_per_example,
        upload=upload,
        residual=residual,
        generator=generator,
    )
    if fault:
        # names and shapes for the `nan` fault; the values are replaced anyway
        template = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        result.payload = faulty_upload(result.payload, fault, template, mask)
    return result


def quiet_lightning() -> None:
    """Silence the per-Trainer banners ("GPU available: ...") that per-client Trainers repeat."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*GPU available but not used.*")
    warnings.filterwarnings(
        "ignore", ".*defined a `validation_step` but have no `val_dataloader`.*"
    )
    warnings.filterwarnings("ignore", ".*LeafSpec.*is deprecated.*")
