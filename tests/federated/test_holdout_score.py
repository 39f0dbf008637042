"""The server hold-out as validation data: which images, and the final model's score on them."""

from __future__ import annotations

import math

import pytest
import torch

from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.data.partition import server_split
from fl_lightning.data.sources import load_split
from fl_lightning.federated.holdout_score import holdout_score, summary_fields
from fl_lightning.models.classifier import Classifier


def test_the_holdout_loader_is_the_server_split_with_labels_and_no_client_holds_it(
    tiny_fashion_root,
):
    dm = FederatedDataModule(root=str(tiny_fashion_root), num_clients=5, server_images=100)
    loader = dm.holdout_dataloader()
    assert loader is not None
    images = torch.cat([x for x, _ in loader])
    labels = torch.cat([y for _, y in loader])
    held = server_split(600, 100, seed=0)[0]
    all_images, all_labels = load_split("fashion_mnist", train=True, root=str(tiny_fashion_root))
    assert torch.equal(images, all_images[held]) and torch.equal(labels, all_labels[held])
    clients = torch.cat([dm.client_indices(c) for c in range(5)])
    assert not set(held.tolist()) & set(clients.tolist())


def test_no_holdout_means_no_validation_score(tiny_fashion_root):
    dm = FederatedDataModule(root=str(tiny_fashion_root), num_clients=5, server_images=0)
    assert dm.holdout_dataloader() is None
    model = Classifier(model="mlp")
    assert holdout_score(model, model.state_dict(), dm, "cpu") == {}
    assert summary_fields({}) == {"final_val_acc": None, "final_val_loss": None}


def test_a_model_of_zero_weights_scores_the_share_of_class_0_and_loss_ln_10(tiny_fashion_root):
    """All logits 0: argmax is class 0 for every image, cross-entropy is ln(10) for each."""
    dm = FederatedDataModule(root=str(tiny_fashion_root), num_clients=5, server_images=100)
    model = Classifier(model="mlp")
    zeros = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    score = holdout_score(model, zeros, dm, "cpu")
    labels = load_split("fashion_mnist", train=True, root=str(tiny_fashion_root))[1]
    share_of_0 = float((labels[server_split(600, 100, seed=0)[0]] == 0).float().mean())
    assert 0 < share_of_0 < 1  # the figure below could be wrong
    assert score["val/acc"] == pytest.approx(share_of_0)
    assert score["val/loss"] == pytest.approx(math.log(10))
    assert summary_fields(score)["final_val_acc"] == pytest.approx(share_of_0)


def test_the_recorded_loss_is_rounded_to_six_decimals() -> None:
    fields = summary_fields({"val/acc": 0.5, "val/loss": 1.8748887777328491})
    assert fields == {"final_val_acc": 0.5, "final_val_loss": 1.874889}
