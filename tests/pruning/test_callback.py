"""MaskEnforcer and IterativeMagnitudePruning inside real (tiny, CPU) Trainer fits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from fl_lightning.errors import UsageError
from fl_lightning.models.classifier import Classifier
from fl_lightning.models.dae import DAEPretrainer
from fl_lightning.pruning.callback import (
    MASK_CHECKPOINT_KEY,
    IterativeMagnitudePruning,
    MaskEnforcer,
)
from fl_lightning.pruning.magnitude import magnitude_prune, prunable_names, random_prune
from fl_lightning.pruning.mask import Mask

LEAN: dict[str, Any] = {
    "accelerator": "cpu",
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}


def labelled_batches(n: int = 64, batch_size: int = 8) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


def image_batches(n: int = 32, batch_size: int = 8) -> DataLoader:
    images: Any = torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    return DataLoader(images, batch_size=batch_size)  # batches are image tensors


def pruned_nonzero(model: torch.nn.Module, mask: Mask) -> int:
    params = dict(model.named_parameters())
    return sum(int((params[n].detach()[~m]).count_nonzero()) for n, m in mask.items())


class StepProbe(pl.Callback):
    """After every training batch (i.e. after each optimizer step): nonzero pruned weights."""

    def __init__(self, mask: Mask) -> None:
        self.mask = mask
        self.counts: list[int] = []

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any
    ) -> None:
        self.counts.append(pruned_nonzero(pl_module, self.mask))


OPTIMIZERS = [
    {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.1},
    {"optimizer": "adam", "lr": 0.01, "weight_decay": 0.1},
    {"optimizer": "adamw", "lr": 0.01, "weight_decay": 0.1},
]


@pytest.mark.parametrize(
    "hparams", OPTIMIZERS, ids=lambda h: "-".join(f"{k}={v}" for k, v in h.items())
)
def test_enforcer_keeps_zeros_over_fifty_steps(hparams: dict[str, Any]) -> None:
    torch.manual_seed(0)
    model = Classifier(model="mlp", **hparams)
    names = prunable_names(model)
    mask = random_prune(model, dict.fromkeys(names, 0.3), seed=0)
    assert pruned_nonzero(model, mask) > 0  # not zero before the fit: the enforcer must do it
    initial = {n: p.detach().clone() for n, p in model.named_parameters()}
    probe = StepProbe(mask)
    trainer = pl.Trainer(max_steps=50, callbacks=[MaskEnforcer(mask), probe], **LEAN)
    trainer.fit(model, labelled_batches(n=400 // 8 * 8))

    assert len(probe.counts) == 50 and set(probe.counts) == {0}
    params = dict(model.named_parameters())
    for name, keep in mask.items():
        assert torch.equal(params[name].detach()[~keep], torch.zeros(int((~keep).sum())))
        assert not torch.equal(params[name].detach()[keep], initial[name][keep])  # kept ones learn
        for value in trainer.optimizers[0].state[params[name]].values():
            if value.shape == keep.shape:
                assert value[~keep].count_nonzero() == 0  # momentum / exp_avg cannot regrow them


def test_without_the_enforcer_pruned_weights_regrow() -> None:
    """The control for the test above: zeroing once before the fit is not enough."""
    torch.manual_seed(0)
    model = Classifier(model="mlp", optimizer="adamw", lr=0.01, weight_decay=0.1)
    mask = random_prune(model, dict.fromkeys(prunable_names(model), 0.3), seed=0)
    mask.apply_(model)
    pl.Trainer(max_steps=5, **LEAN).fit(model, labelled_batches())
    assert pruned_nonzero(model, mask) > 0


def test_enforcer_with_gradient_clipping_and_a_second_trainer() -> None:
    torch.manual_seed(0)
    model = Classifier(model="mlp", optimizer="sgd", lr=0.1, momentum=0.9)
    mask = magnitude_prune(model, 0.9)
    enforcer = MaskEnforcer(mask)
    for _ in range(2):  # the same callback on two Trainers in turn: installs afresh each fit
        pl.Trainer(max_steps=5, gradient_clip_val=0.01, callbacks=[enforcer], **LEAN).fit(
            model, labelled_batches()
        )
        assert pruned_nonzero(model, mask) == 0


def test_enforcer_rejects_a_mask_that_does_not_fit() -> None:
    model = Classifier(model="mlp")
    wrong = magnitude_prune(Classifier(model="cnn"), 0.5)
    trainer = pl.Trainer(max_steps=1, callbacks=[MaskEnforcer(wrong)], **LEAN)
    with pytest.raises(UsageError, match="MaskEnforcer: the mask does not fit"):
        trainer.fit(model, labelled_batches())
    with pytest.raises(TypeError):
        MaskEnforcer({"encoder.fc1.weight": torch.ones(200, 784, dtype=torch.bool)})  # type: ignore[arg-type]


class MaskRecorder(pl.Callback):
    def __init__(self, pruner: IterativeMagnitudePruning) -> None:
        self.pruner = pruner
        self.masks: list[Mask] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        assert self.pruner.mask is not None
        self.masks.append(self.pruner.mask)


def test_iterative_pruning_schedule_never_regrows_and_reaches_target(tmp_path: Path) -> None:
    torch.manual_seed(0)
    dae = DAEPretrainer(model="mlp", lr=0.01, images_to_log=0)
    pruner = IterativeMagnitudePruning(final_sparsity=0.75, every_n_epochs=1, steps=2)
    recorder = MaskRecorder(pruner)
    trainer = pl.Trainer(max_epochs=3, callbacks=[pruner, recorder], **LEAN)
    trainer.fit(dae, image_batches())

    first, second, third = recorder.masks
    total = 784 * 200 + 200 * 200
    assert pruner.sparsity_after(1) == pytest.approx(0.5)
    assert first.num_kept == round(0.5 * total)  # 1 - (1 - 0.75) ** (1 / 2) = 0.5
    assert second.num_kept == round(0.25 * total)
    assert third is second  # no third event
    for name in first:
        assert not (second[name] & ~first[name]).any()
    assert pruned_nonzero(dae, second) == 0
    assert list(second) == ["encoder.fc1.weight", "encoder.fc2.weight"]  # decoder stays dense

    path = tmp_path / "iterative.ckpt"
    trainer.save_checkpoint(path)
    stored = torch.load(path, map_location="cpu", weights_only=False)
    assert Mask(stored[MASK_CHECKPOINT_KEY]) == second


def test_iterative_pruning_resumes_its_schedule(tmp_path: Path) -> None:
    torch.manual_seed(0)
    dae = DAEPretrainer(model="mlp", lr=0.01, images_to_log=0)
    pruner = IterativeMagnitudePruning(final_sparsity=0.75, every_n_epochs=1, steps=2)
    trainer = pl.Trainer(max_epochs=1, callbacks=[pruner], **LEAN)
    trainer.fit(dae, image_batches())
    path = tmp_path / "one_event.ckpt"
    trainer.save_checkpoint(path)
    assert pruner.mask is not None
    after_one = pruner.mask

    resumed = IterativeMagnitudePruning(final_sparsity=0.75, every_n_epochs=1, steps=2)
    fresh = DAEPretrainer(model="mlp", lr=0.01, images_to_log=0)
    pl.Trainer(max_epochs=3, callbacks=[resumed], **LEAN).fit(
        fresh, image_batches(), ckpt_path=path
    )
    assert resumed.events_done == 2
    assert resumed.mask is not None and resumed.mask.sparsity == pytest.approx(0.75, abs=1e-5)
    for name in after_one:
        assert not (resumed.mask[name] & ~after_one[name]).any()
    assert pruned_nonzero(fresh, resumed.mask) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"final_sparsity": 1.0}, "final_sparsity"),
        ({"final_sparsity": 0.5, "every_n_epochs": 0}, "every_n_epochs"),
        ({"final_sparsity": 0.5, "steps": 0}, "steps"),
        ({"final_sparsity": 0.5, "scope": "bogus"}, "scope"),
    ],
)
def test_iterative_pruning_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        IterativeMagnitudePruning(**kwargs)
