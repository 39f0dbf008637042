"""`client.run_client_update`: one client's round on a tiny model: trains from the decoded
download, keeps the mask, encodes the upload, counts examples and FLOPs; its time limit and
its lean Trainer."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, TensorDataset

from fl_lightning.data.shuffled_batches import ShuffledBatches
from fl_lightning.federated import client as client_module
from fl_lightning.federated.client import (
    ClientConfig,
    ClientTimeout,
    lean_trainer,
    run_client_update,
)
from fl_lightning.federated.codec import decode, encode, payload_size
from fl_lightning.federated.upload import UploadCodec
from fl_lightning.models.classifier import Classifier
from fl_lightning.pruning.callback import MaskEnforcer
from fl_lightning.pruning.magnitude import magnitude_prune, prunable_names
from fl_lightning.pruning.mask import Mask


def tiny_data(n: int = 8) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(n, 1, 28, 28, generator=g)
    labels = torch.arange(n) % 10
    return DataLoader(TensorDataset(images, labels), batch_size=4)


def setup() -> tuple[Classifier, dict[str, torch.Tensor], Mask]:
    torch.manual_seed(0)
    model = Classifier(model="mlp", lr=0.1)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    mask = magnitude_prune(model, 0.7, names=prunable_names(model))
    for name, keep in mask.items():
        state[name] = state[name] * keep
    return model, state, mask


def test_client_trains_from_the_payload_keeps_the_mask_and_counts() -> None:
    model, state, mask = setup()
    download = encode(state, mask, with_mask=True)
    config = ClientConfig(local_epochs=2, batch_size=4)
    result = run_client_update(
        client_id=5, payload=download, model=model, mask=Mask({}), dataloader=tiny_data(),
        num_examples=8, config=config, flops_per_example=3.0,
    )  # fmt: skip
    assert (result.client_id, result.num_examples) == (5, 8)
    assert result.flops == 3.0 * 8 * 2  # per example x examples x local epochs
    assert result.train_loss > 0 and result.seconds > 0
    # the upload carries values only (the server knows the mask), at float32
    assert len(result.payload) == payload_size(state, mask, with_mask=False)
    uploaded, _ = decode(result.payload, state, mask)
    for name, keep in mask.items():  # the download's mask replaced the empty one it was given
        assert torch.count_nonzero(uploaded[name][~keep]) == 0
        assert not torch.equal(uploaded[name][keep], state[name][keep])  # it trained


@pytest.mark.parametrize("n", [10, 12])  # a short last batch, and none
def test_client_batches_train_the_same_model_as_a_shuffling_dataloader(n: int) -> None:
    """Over three epochs of a fit, Lightning draws the order from the generator exactly as the
    DataLoader the clients trained from before (`ShuffledBatches`): the uploads are identical."""
    images = torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(n) % 10
    uploads = []
    for loader in (
        DataLoader(
            TensorDataset(images, labels), batch_size=4, shuffle=True,
            generator=torch.Generator().manual_seed(7),
        ),
        ShuffledBatches(images, labels, 4, torch.Generator().manual_seed(7)),
    ):  # fmt: skip
        model, state, mask = setup()
        result = run_client_update(
            client_id=0, payload=encode(state, mask, with_mask=False), model=model, mask=mask,
            dataloader=loader, num_examples=n, config=ClientConfig(local_epochs=3, batch_size=4),
            flops_per_example=1.0,
        )  # fmt: skip
        uploads.append((result.payload, result.train_loss))
    assert uploads[0] == uploads[1]


@pytest.mark.parametrize("sparse", [True, False])
def test_only_a_masked_client_gets_a_mask_enforcer(
    sparse: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dense client's Trainer has no callback to call every step; a sparse one keeps its mask
    (the mask comes with the download: the client is handed an empty one)."""
    model, state, mask = setup()
    if not sparse:
        mask = Mask({})
    trainers: list[pl.Trainer] = []

    def recording_trainer(config: ClientConfig, callbacks: list[Callback]) -> pl.Trainer:
        trainers.append(lean_trainer(config, callbacks))
        return trainers[-1]

    monkeypatch.setattr(client_module, "lean_trainer", recording_trainer)
    run_client_update(
        client_id=0, payload=encode(state, mask, with_mask=sparse), model=model, mask=Mask({}),
        dataloader=tiny_data(), num_examples=8, config=ClientConfig(batch_size=4),
        flops_per_example=1.0,
    )  # fmt: skip
    enforcers = [c for c in trainers[0].callbacks if isinstance(c, MaskEnforcer)]
    assert [e.mask for e in enforcers] == ([mask] if sparse else [])


def test_the_upload_is_encoded_with_the_asked_codec() -> None:
    model, state, mask = setup()
    download = encode(state, mask, with_mask=False)
    result = run_client_update(
        client_id=0, payload=download, model=model, mask=mask, dataloader=tiny_data(),
        num_examples=8, config=ClientConfig(batch_size=4), flops_per_example=1.0,
        upload=UploadCodec(codec="float16"),
    )  # fmt: skip
    assert len(result.payload) == payload_size(state, mask, with_mask=False, codec="float16")
    assert len(result.payload) < payload_size(state, mask, with_mask=False)


def test_a_client_over_its_time_limit_stops_with_client_timeout() -> None:
    model, state, mask = setup()
    with pytest.raises(ClientTimeout, match="time limit"):
        run_client_update(
            client_id=0, payload=encode(state, mask, with_mask=False), model=model, mask=mask,
            dataloader=tiny_data(), num_examples=8,
            config=ClientConfig(batch_size=4, timeout=1e-9), flops_per_example=1.0,
        )  # fmt: skip


def test_lean_trainer_has_nothing_but_the_fit() -> None:
    trainer = lean_trainer(ClientConfig(local_epochs=3), [])
    assert trainer.max_epochs == 3
    assert trainer.logger is None and trainer.checkpoint_callback is None
    assert trainer.progress_bar_callback is None
