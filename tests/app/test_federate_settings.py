"""`app.federate_settings.FederateConfig`: one frozen value, built and written as config.yaml."""

from __future__ import annotations

import dataclasses

import pytest

from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.errors import UsageError


def test_from_dict_builds_the_groups_and_keeps_lists_as_tuples() -> None:
    config = FederateConfig.from_dict(
        {"method": "fedavg", "federation": {"rounds": 4}, "pretrain_overrides": ["--a=1"]}
    )
    assert config.federation.rounds == 4 and config.pretrain_overrides == ("--a=1",)
    assert FederateConfig.from_yaml(config.to_yaml()) == config
    assert list(config.to_dict())[:3] == ["method", "engine", "ticket"]  # the options' order


def test_unknown_keys_and_scalars_for_groups_are_named() -> None:
    with pytest.raises(UsageError, match=r"federation\.rouns: no such option.*\(in federation\)"):
        FederateConfig.from_dict({"federation": {"rouns": 3}})
    with pytest.raises(UsageError, match="data=5: data is a group of options"):
        FederateConfig.from_dict({"data": 5})
    with pytest.raises(UsageError, match="must be a mapping of options"):
        FederateConfig.from_yaml("- 1\n")


def test_the_step_checks_its_own_choices_when_built() -> None:
    with pytest.raises(UsageError, match="--engine"):
        FederateConfig(engine="ray")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="--sparsity"):
        FederateConfig(method="proposed", sparsity=1.5)
    FederateConfig(method="fedavg", sparsity=1.5)  # a dense method never reads it
    with pytest.raises(UsageError, match="--pretrain_overrides"):
        FederateConfig(pretrain_overrides="--trainer.max_epochs=2")  # type: ignore[arg-type]


def test_the_config_files_read_are_not_an_option() -> None:
    config = FederateConfig(config=("a.yaml",))
    assert "config" not in config.to_dict()
    assert config == dataclasses.replace(config, config=None)  # not compared
