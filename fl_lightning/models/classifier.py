"""`Classifier`: encoder + output layer, trained with cross-entropy; what federation trains."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from fl_lightning.data.sources import dataset_info
from fl_lightning.errors import UsageError, check_choice, check_range
from fl_lightning.models.components import build_encoder, build_head, model_spec

Optimizer = Literal["sgd", "adam", "adamw"]
OPTIMIZERS: tuple[Optimizer, ...] = get_args(Optimizer)


def check_options(
    model: str,
    optimizer: str,
    lr: float,
    momentum: float,
    weight_decay: float,
    *,
    prefix: str = "",
) -> None:
    """`UsageError` unless `Classifier` can be built with these values; each message names the
    option as `<prefix><argument>` (`fl-lightning federate` passes `model.`, its option group,
    to refuse a bad value before any work starts)."""
    model_spec(model, f"{prefix}model")
    check_choice(f"{prefix}optimizer", optimizer, OPTIMIZERS)
    if not lr > 0:  # NaN too
        raise UsageError(f"{prefix}lr={lr!r} must be > 0.")
    check_range(f"{prefix}momentum", momentum, 0.0, 1.0)
    if not weight_decay >= 0:
        raise UsageError(f"{prefix}weight_decay={weight_decay!r} must be >= 0.")


class Classifier(pl.LightningModule):
    """Image classifier: the DAE's encoder followed by a dense linear output layer."""

    def __init__(
        self,
        model: str = "cnn",
        dataset: str = "fashion_mnist",
        optimizer: Optimizer = "sgd",
        lr: float = 0.05,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        dae_checkpoint: str | None = None,
        widths: dict[str, int] | None = None,
    ) -> None:
        """Build the classifier; every argument is checked here.

        Args:
            model: registered model family (`cnn`, `mlp`, a plugin's name or `module:object`
                naming a `ModelSpec`), the same name the DAE was built with.
            dataset: registered dataset: input shape and number of classes.
            optimizer: local optimizer: `sgd` (with `momentum`), `adam` or `adamw`.
            lr: learning rate (> 0).
            momentum: SGD momentum, in [0, 1).
            weight_decay: weight decay (>= 0).
            dae_checkpoint: a `fl-lightning pretrain` checkpoint whose encoder weights to start
                from; the output layer stays freshly initialised.
            widths: hidden-layer widths of a narrower encoder of the same family (a structured
                ticket's, e.g. `{"conv1": 10, "conv2": 20, "fc": 164}`); None or an absent key
                keeps the family's width. A `dae_checkpoint` needs the full widths.
        """
        super().__init__()
        check_options(model, optimizer, lr, momentum, weight_decay)
        self.save_hyperparameters()
        self._loss_sum = torch.zeros(())
        self._loss_count = 0
        info = dataset_info(dataset)
        self.encoder = build_encoder(model, info.shape, widths)
        out_features: int = self.encoder.out_features  # type: ignore[assignment]
        self.head = build_head(out_features, info.num_classes, model)
        self.test_acc = MulticlassAccuracy(num_classes=info.num_classes, average="micro")
        if dae_checkpoint is not None:
            from fl_lightning.models.dae import load_dae_checkpoint

            ckpt = load_dae_checkpoint(dae_checkpoint, option="dae_checkpoint")
            if ckpt.model != model:
                raise UsageError(
                    f"dae_checkpoint={dae_checkpoint!r} was pre-trained as {ckpt.model!r}, "
                    f"not {model!r}."
                )
            self.load_encoder_state(ckpt.encoder_state)

    def load_encoder_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Copy `encoder.*` weights (e.g. from a DAE or a ticket) into the encoder."""
        stripped = {
            k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")
        }
        self.encoder.load_state_dict(stripped, strict=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.encoder(x))
        return logits

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        # Summed here as well as logged: a barebones Trainer (the clients' lean one) has no
        # `self.log`, and the federation still needs each client's mean training loss.
        self._loss_sum += loss.detach() * len(y)
        self._loss_count += len(y)
        if not self.trainer.barebones:
            self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        """Move an `(images, labels)` batch directly: the generic collection walk costs more
        than a small CPU step, and clients take thousands of them."""
        if isinstance(batch, tuple | list) and all(isinstance(t, torch.Tensor) for t in batch):
            return type(batch)(t.to(device, non_blocking=True) for t in batch)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_train_epoch_start(self) -> None:
        self._loss_sum = torch.zeros((), device=self.device)
        self._loss_count = 0

    @property
    def epoch_train_loss(self) -> float:
        """Mean training loss over the examples of the last (or current) training epoch."""
        return float(self._loss_sum) / self._loss_count if self._loss_count else float("nan")

    def _eval_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, y = batch
        logits = self(x)
        self.log("test/loss", F.cross_entropy(logits, y), batch_size=len(y))
        self.test_acc(logits, y)
        self.log("test/acc", self.test_acc, batch_size=len(y))

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch)

    @torch.no_grad()
    def evaluate(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> tuple[float, float]:
        """Accuracy and mean cross-entropy over `batches`, without a Trainer (the engine's eval)."""
        was_training = self.training
        self.eval()
        correct, loss_sum, count = 0, 0.0, 0
        for x, y in batches:
            x, y = x.to(self.device), y.to(self.device)
            logits = self(x)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(dim=1) == y).sum())
            count += len(y)
        self.train(was_training)
        if count == 0:
            raise ValueError("evaluate() got no examples")
        return correct / count, loss_sum / count

    def configure_optimizers(self) -> torch.optim.Optimizer:
        lr, wd = self.hparams["lr"], self.hparams["weight_decay"]
        name = self.hparams["optimizer"]
        if name == "adam":
            return torch.optim.Adam(self.parameters(), lr=lr, weight_decay=wd)
        if name == "adamw":
            return torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=wd)
        return torch.optim.SGD(
            self.parameters(), lr=lr, momentum=self.hparams["momentum"], weight_decay=wd
        )
