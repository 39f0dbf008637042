"""`parsers.pretrain_args`: a PretrainConfig's settings in LightningCLI's argument syntax."""

from __future__ import annotations

from pathlib import Path

import pytest

from fl_lightning.app.pretraining import PretrainConfig
from fl_lightning.errors import UsageError
from fl_lightning.parsers.pretrain_args import lightning_args, with_bare_flags


def test_settings_are_spelled_in_order_bools_lowercase(tmp_path: Path) -> None:
    config = tmp_path / "p.yaml"
    config.write_text("trainer: {}\n")
    argv = lightning_args(
        config,
        tmp_path / "out",
        {"trainer.max_epochs": 2, "trainer.logger": False, "data.split_seed": 3},
        ["--verbose"],
    )
    assert argv == [
        "--config",
        str(config),
        "--output",
        str(tmp_path / "out"),
        "--trainer.max_epochs=2",
        "--trainer.logger=false",
        "--data.split_seed=3",
        "--verbose",  # args come last, as typed
    ]
    assert lightning_args(None, None, {}, []) == []


def test_a_packaged_config_is_found_and_a_missing_one_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = lightning_args("configs/pretrain/smoke.yaml", None, {}, [])
    assert argv[0] == "--config" and Path(argv[1]).is_file()
    with pytest.raises(UsageError, match=r"PretrainConfig\(config\)='nowhere\.yaml'"):
        lightning_args("nowhere.yaml", None, {}, [])


def test_pretrain_config_delegates_and_bare_flags_get_values() -> None:
    config = PretrainConfig(settings={"verbose": True}, args=("--wandb.enabled",))
    assert config.cli_args() == ["--verbose=true", "--wandb.enabled"]
    assert with_bare_flags(config.cli_args()) == ["--verbose=true", "--wandb.enabled=true"]
    assert with_bare_flags(["--no_verbose", "--trainer.fast_dev_run"]) == [
        "--verbose=false",
        "--trainer.fast_dev_run",  # not one of pretrain's own flags: left to LightningCLI
    ]
