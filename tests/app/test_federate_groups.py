"""`app.federate_groups`: the data and model groups, checked by their owners when built."""

from __future__ import annotations

import pytest

from fl_lightning.app.federate_groups import DataOptions, ModelOptions, WandbConfig
from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.errors import UsageError
from fl_lightning.tracking.wandb_options import WandbConfig as SharedWandbConfig


def test_the_data_group_is_the_data_modules_arguments() -> None:
    module = DataOptions(num_clients=7, partition="dirichlet", alpha=0.3).module()
    assert isinstance(module, FederatedDataModule)
    assert module.num_clients == 7
    with pytest.raises(UsageError, match="num_clients"):
        DataOptions(num_clients=0)


def test_the_model_group_is_checked_with_its_prefix() -> None:
    with pytest.raises(UsageError, match=r"model\.lr"):
        ModelOptions(lr=-1.0)
    with pytest.raises(UsageError, match=r"model\.optimizer"):
        ModelOptions(optimizer="rmsprop")  # type: ignore[arg-type]


def test_the_wandb_group_is_the_one_shared_declaration() -> None:
    assert WandbConfig is SharedWandbConfig
    assert WandbConfig() == WandbConfig(enabled=True, project="fl-lightning")
