"""`app.grid_configs`: each planned run's `FederateConfig`, built from typed values as the
federate parser built it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from fl_lightning.app.compare_loader import compare_config
from fl_lightning.app.comparison import grid_of
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.app.grid import GridConfigs, plan_runs
from fl_lightning.app.grid_configs import read_federate_yaml, run_values, with_values
from fl_lightning.config_paths import resolve_config_path
from fl_lightning.errors import UsageError
from fl_lightning.parsers.federate_parser import build_parser as build_federate_parser
from fl_lightning.parsers.federate_parser import federate_tree

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs" / "compare" / "smoke.yaml")
COMPARE_CONFIGS = sorted((REPO / "configs" / "compare").glob("*.yaml"))


def _parser_run_config(grid: Any, run: Any) -> FederateConfig:
    """The run's config as the grid built it before it was typed: the federate parser over
    the YAML, the W&B settings, the overrides, the codec's overrides, the run's values."""
    parser = build_federate_parser()
    parser.exit_on_error = False
    cfg = parser.parse_path(grid.federate_config)
    if cfg.get("pretrain_config"):
        cfg.pretrain_config = resolve_config_path(
            cfg.pretrain_config, "pretrain_config", [Path(grid.federate_config).resolve()]
        )
    wandb = {"enabled": grid.wandb_enabled, "project": grid.wandb_project}
    cfg = parser.parse_object({"wandb": {**wandb, "group": grid.wandb_group}}, namespace=cfg)
    if grid.overrides:
        cfg = parser.parse_args(list(grid.overrides), namespace=cfg)
    if run.arm.codec is not None:
        cfg = parser.parse_args(list(grid.codec(run.arm.codec).overrides), namespace=cfg)
    cfg = parser.parse_object(run_values(grid, run, None), namespace=cfg)
    return FederateConfig.from_dict(federate_tree(cfg))


@pytest.mark.parametrize("path", COMPARE_CONFIGS, ids=lambda p: p.stem)
def test_each_runs_typed_config_writes_the_config_yaml_the_parser_wrote(path: Path) -> None:
    """config.yaml of a new run stays byte for byte what it was (`4` given to a float option
    is `4.0`, as the parser read it), so finished runs and new ones read alike."""
    grid = grid_of(compare_config(path, output="OUT"))
    configs = GridConfigs(grid)
    for run in plan_runs(grid):
        typed = configs.run(run, None)
        assert typed.to_yaml() == _parser_run_config(grid, run).to_yaml(), run.describe()


def test_with_values_sets_part_of_a_group_and_keeps_the_rest() -> None:
    config = FederateConfig()
    changed = with_values(config, {"data": {"alpha": 0.1}, "rounds": 4})
    assert (changed.data.alpha, changed.rounds) == (0.1, 4)
    assert changed.data.num_clients == config.data.num_clients  # the rest of the group kept
    assert dataclasses.replace(changed, data=config.data, rounds=None) == config


def test_the_federate_yaml_finds_its_pretrain_config_beside_it(tmp_path: Path) -> None:
    (tmp_path / "pre.yaml").write_text("trainer:\n  max_epochs: 1\n")
    (tmp_path / "fed.yaml").write_text("method: fedavg\npretrain_config: pre.yaml\n")
    config = read_federate_yaml(str(tmp_path / "fed.yaml"))
    assert config.method == "fedavg"
    assert Path(config.pretrain_config).resolve() == (tmp_path / "pre.yaml").resolve()


def test_a_bad_override_is_named_as_the_runs_mistake(tmp_path: Path) -> None:
    grid = grid_of(compare_config(SMOKE, output=str(tmp_path / "c"), methods=["fedavg"]))
    bad = dataclasses.replace(grid, overrides=["--federation.up_codek=int8"])
    run = plan_runs(bad)[0]
    with pytest.raises(UsageError) as info:
        GridConfigs(bad).run(run, None)
    assert str(info.value).startswith(
        f"run {run.describe()}: the federate arguments are invalid: --federation.up_codek: "
        "no such option"
    )
    assert run_values(grid, run, "d.ckpt")["checkpoint"] == "d.ckpt"
    assert "checkpoint" not in run_values(grid, run, None)
