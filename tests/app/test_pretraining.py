"""`app.pretraining`: what a pre-training refuses and recognises, without training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fl_lightning.app.pretraining import (
    PretrainConfig,
    check_finite,
    is_pretrain_config,
)
from fl_lightning.errors import UsageError
from fl_lightning.models.dae import DAEPretrainer


def test_a_pretraining_config_yaml_is_recognised_by_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("seed_everything: 0\ntrainer: {}\nmodel: {}\ndata: {}\noutput: out\n")
    assert is_pretrain_config(path)
    path.write_text("method: proposed\nfederation: {rounds: 3}\n")  # a federation's
    assert not is_pretrain_config(path)
    path.write_bytes(b"\xff\xfe")
    assert not is_pretrain_config(path)
    assert not is_pretrain_config(tmp_path / "missing.yaml")


def test_a_diverged_model_is_refused_naming_its_learning_rate() -> None:
    model = DAEPretrainer(model="mlp", dataset="mnist", lr=0.5)
    check_finite(model)
    with torch.no_grad():
        next(iter(model.parameters())).fill_(float("nan"))
    with pytest.raises(
        UsageError, match=r"pre-training diverged: 1 weight tensors.*model\.lr=0\.5"
    ):
        check_finite(model)


def test_the_config_checks_the_kind_of_each_argument() -> None:
    with pytest.raises(UsageError, match=r"PretrainConfig\(output=5\)"):
        PretrainConfig(output=5)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"PretrainConfig\(args='--x'\)"):
        PretrainConfig(args="--x")
    config = PretrainConfig(output="out", settings={"trainer.max_epochs": 1})
    assert config.cli_args() == ["--output", "out", "--trainer.max_epochs=1"]
