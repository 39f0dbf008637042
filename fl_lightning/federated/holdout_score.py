"""The federated model's score on the server's hold-out: the validation figure to choose on.

The test split measures a method; choosing a learning rate or a sparsity on it would make the
reported test accuracy optimistic. The server's hold-out (`data.server_images` training images
that no client holds) is validation data: `holdout_score` scores the final global model on it
once, after the last round, so a W&B sweep can maximise `val/acc` and leave `test/acc` untouched.
"""

from __future__ import annotations

import torch

from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.models.classifier import Classifier
from fl_lightning.tracking.metric_names import VAL_ACC, VAL_LOSS


def holdout_score(
    model: Classifier, state: dict[str, torch.Tensor], data: FederatedDataModule, device: str
) -> dict[str, float]:
    """`{val/acc, val/loss}` of `model` with weights `state` on `data`'s server hold-out, on
    `device`; empty when the run holds out no images (`data.server_images=0`)."""
    loader = data.holdout_dataloader()
    if loader is None:
        return {}
    model.load_state_dict(state)
    model.to(device)
    try:
        accuracy, loss = model.evaluate(loader)
    finally:
        model.to("cpu")
    return {VAL_ACC: accuracy, VAL_LOSS: loss}


def summary_fields(score: dict[str, float]) -> dict[str, float | None]:
    """The score as summary.json's `final_val_acc` / `final_val_loss` (None: no hold-out).

    The loss is rounded to 6 decimals: its last float32 digits vary between processes (the
    same weights scored in a `compare --jobs 2` worker and in the parent differed by 2e-7),
    and a run's record must not depend on where it ran.
    """
    loss = score.get(VAL_LOSS)
    return {
        "final_val_acc": score.get(VAL_ACC),
        "final_val_loss": None if loss is None else round(loss, 6),
    }
