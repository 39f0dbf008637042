"""Federated DAE pre-training: the `DAEPretrainer` trained by FedAvg on the clients' own images.

`FederatedDAE` is the classification engine (`RoundEngine`) with a DAE as its workspace model:
the same sampling, per-client fresh lean Trainers, codecs, byte and FLOP meters, faults,
checkpoint and resume. The labels of the clients' data are never used. What differs:

- the workspace is a `ClientDAE`, whose noise comes from a generator seeded per client and
  round (`noise_seed`), so a resumed run trains exactly as an uninterrupted one;
- the payload is the whole autoencoder, encoder + decoder (dense: there is no mask yet);
- evaluation is the reconstruction MSE of the noisy test images (fixed noise, labels unused),
  logged as `test/recon_loss` (and `test/loss`); there is no accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F

from fl_lightning.federated.client import ClientResult
from fl_lightning.federated.client_job import ClientJob
from fl_lightning.federated.engine import RoundEngine, _Outcome
from fl_lightning.federated.sampling import data_order_seed
from fl_lightning.models.dae import DAEPretrainer

#: This round's mean reconstruction loss of the test images (the DAE's `test/loss`).
TEST_RECON_LOSS = "test/recon_loss"
#: Mixed into the data-order seed: the noise and the batch order come from different streams.
NOISE_SALT = 0x9E3779B9
#: The seed of the evaluation's noise: the same corrupted test images every round.
EVAL_NOISE_SEED = 12345


def noise_seed(base: int, round_idx: int, client_id: int) -> int:
    """The seed of one client's DAE noise in one round: a pure function of the three."""
    return data_order_seed(base ^ NOISE_SALT, round_idx, client_id)


def _images(batch: Any) -> torch.Tensor:
    """The images of a batch: a tensor, or the first element of an `(images, labels)` pair."""
    images: torch.Tensor = batch[0] if isinstance(batch, tuple | list) else batch
    return images


class ClientDAE(DAEPretrainer):
    """`DAEPretrainer` as a federated client trains it: seeded noise, labels ignored, the epoch's
    mean loss kept without `self.log` (a barebones Trainer has none)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.noise_generator: torch.Generator | None = None
        self._loss_sum = 0.0
        self._loss_count = 0

    def seed_noise(self, seed: int) -> None:
        """Draw the noise of the next fit from a CPU generator seeded with `seed`."""
        self.noise_generator = torch.Generator().manual_seed(seed)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """As `DAEPretrainer.corrupt`, with the noise drawn from `noise_generator` when set."""
        g = self.noise_generator
        if g is None:
            return super().corrupt(x)
        if self.hparams["noise"] == "gaussian":
            noise = torch.randn(x.shape, generator=g, dtype=x.dtype).to(x.device)
            noisy: torch.Tensor = x + self.hparams["noise_std"] * noise
            return noisy
        drop = (torch.rand(x[:, :1].shape, generator=g) < self.hparams["mask_prob"]).to(x.device)
        black: torch.Tensor = self.black  # type: ignore[assignment]
        return torch.where(drop, black.expand_as(x), x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x = _images(batch)
        loss = F.mse_loss(self(self.corrupt(x)), x)
        self._loss_sum += float(loss.detach()) * len(x)
        self._loss_count += len(x)
        if not self.trainer.barebones:
            self.log("train/recon_loss", loss, on_step=False, on_epoch=True, batch_size=len(x))
        return loss

    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._loss_count = 0.0, 0

    @property
    def epoch_train_loss(self) -> float:
        """Mean reconstruction loss over the images of the last (or current) training epoch."""
        return self._loss_sum / self._loss_count if self._loss_count else float("nan")

    @torch.no_grad()
    def reconstruction_loss(self, batches: Iterable[Any], seed: int = EVAL_NOISE_SEED) -> float:
        """Mean MSE of the reconstructions of `batches`' images from their noisy versions, the
        noise drawn from `seed` (the same every call: comparable from round to round)."""
        was_training, saved = self.training, self.noise_generator
        self.eval()
        self.seed_noise(seed)
        total, count = 0.0, 0
        try:
            for batch in batches:
                x = _images(batch).to(self.device)
                total += float(F.mse_loss(self(self.corrupt(x)), x, reduction="sum")) / x[0].numel()
                count += len(x)
        finally:
            self.train(was_training)
            self.noise_generator = saved
        if count == 0:
            raise ValueError("reconstruction_loss() got no images")
        return total / count


class FederatedDAE(RoundEngine):
    """FedAvg of a `ClientDAE` over the clients' training images (see the module doc).

    Takes `RoundEngine`'s arguments with `model` a `ClientDAE` and `mask` empty (dense). Its
    `setup` tells a remote client (Flower) to train a `dae` workspace with the DAE's arguments;
    the ClientApp seeds its noise as `train_here` does (`workspace.client_noise_seed`).
    """

    model: ClientDAE  # type: ignore[assignment]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._setup = replace(self._setup, workspace="dae", model_args=dict(self.model.hparams))

    def train_here(self, r: int, job: ClientJob) -> ClientResult:
        """The client's step with its noise seeded by (`seeds.data_order`, round, client)."""
        self.model.seed_noise(noise_seed(self.seeds.of("data_order"), r, job.client_id))
        try:
            return super().train_here(r, job)
        finally:
            self.model.noise_generator = None

    def evaluate(self) -> tuple[float | None, float]:  # type: ignore[override]
        """No accuracy (None) and the test images' reconstruction loss."""
        self.model.load_state_dict(self.global_state)
        self.model.to(self.eval_device)
        try:
            return None, self.model.reconstruction_loss(self.data.test_dataloader())
        finally:
            self.model.to("cpu")

    def _metrics_row(self, r: int, outcome: _Outcome, failed: int) -> dict[str, Any]:
        row = super()._metrics_row(r, outcome, failed)
        row[TEST_RECON_LOSS] = row["test/loss"]
        return row

    def cost(self) -> dict[str, Any]:
        """What the pre-training cost so far: rounds, bytes each way, client FLOPs and seconds."""
        return {
            "rounds": self.round,
            "clients_per_round": self.k,
            "down_bytes": self.comm.down_bytes,
            "up_bytes": self.comm.up_bytes,
            "total_bytes": self.comm.total_bytes,
            "client_flops": self.compute.flops,
            "client_seconds": self.compute.client_seconds,
        }
