"""The federate configs of a comparison grid's runs, built from typed values (no parser).

    base      the federate YAML (`Grid.federate_config`), the grid's W&B settings, then the
              user's `--overrides` (`--rounds=20`, read once as typed values)
    codec     `base` with a codec setting's overrides on top (one per setting, built once)
    run       the run's own values last (partition, method, sparsity, seed, output, ...): they win

Each is a `FederateConfig`; a mistake in the YAML or an override raises `UsageError` naming the
run (or seed) that needed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.app.grid_plan import Grid, PlannedRun
from fl_lightning.app.typed_build import build, merged, option_groups, override_tree
from fl_lightning.config_files import check_config_file
from fl_lightning.config_paths import resolve_config_path
from fl_lightning.errors import UsageError


def with_values(config: FederateConfig, values: Mapping[str, Any]) -> FederateConfig:
    """`config` with the options `values` (nested like the YAML: `{"data": {"alpha": 0.1}}`)
    set; a group given in part keeps the rest of its options."""
    return build(FederateConfig, merged(FederateConfig, config.to_dict(), values))


def read_federate_yaml(path: str) -> FederateConfig:
    """The federate YAML `path` as `fl-lightning federate --config` reads it: every option it
    lacks at its default, its `pretrain_config` found beside it first."""
    tree = check_config_file("--federate_config", path, option_groups(FederateConfig))
    if isinstance(tree.get("pretrain_config"), str):  # a path in the YAML: beside the YAML
        tree["pretrain_config"] = resolve_config_path(
            tree["pretrain_config"], "pretrain_config", [Path(path).resolve()]
        )
    return build(FederateConfig, tree)


class GridConfigs:
    """The federate configs of one grid's runs (see the module's docstring): the YAML and the
    override strings are read once, each codec setting's config built once."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self._base: FederateConfig | None = None
        self._codecs: dict[str, FederateConfig] = {}

    def base(self, what: str) -> FederateConfig:
        """The federate YAML with the grid's W&B settings and `--overrides`."""
        if self._base is None:
            grid = self.grid
            wandb = {
                "enabled": grid.wandb_enabled,
                "project": grid.wandb_project,
                "group": grid.wandb_group,
            }
            config = read_federate_yaml(grid.federate_config)
            self._base = _invalid_as(
                what, lambda: _with_args(with_values(config, {"wandb": wandb}), grid.overrides)
            )
        return self._base

    def of_codec(self, codec: str | None, what: str) -> FederateConfig:
        """`base` with the codec setting `codec`'s overrides (None: `base`)."""
        base = self.base(what)
        if codec is None:
            return base
        if codec not in self._codecs:
            overrides = self.grid.codec(codec).overrides
            self._codecs[codec] = _invalid_as(what, lambda: _with_args(base, overrides))
        return self._codecs[codec]

    def run(self, run: PlannedRun, checkpoint: str | None) -> FederateConfig:
        """The federate config of `run` (not resolved), its DAE checkpoint `checkpoint`."""
        what = f"run {run.describe()}"
        config = self.of_codec(run.arm.codec, what)
        try:  # the run's own values: a bad one (a partition's alpha) is the run's mistake
            return with_values(config, run_values(self.grid, run, checkpoint))
        except UsageError as err:
            raise UsageError(f"{what}: {err}") from None

    def seed(self, seed: int) -> FederateConfig:
        """The federate config of `seed`'s pre-training (`base` at that seed)."""
        what = f"seed {seed}"
        base = self.base(what)
        try:
            return with_values(base, {"seed": seed})
        except UsageError as err:
            raise UsageError(f"{what}: {err}") from None


def run_values(grid: Grid, run: PlannedRun, checkpoint: str | None) -> dict[str, Any]:
    """The federate config values of one run (they win over the config and the overrides)."""
    values: dict[str, Any] = {**run.partition.values(), "method": run.arm.method}
    if run.arm.sparsity is not None:
        values["sparsity"] = run.arm.sparsity
    values |= {
        "seed": run.seed,
        "output": str(run.directory),
        "progress": False,
        "verbose": grid.verbose,
    }
    values["wandb"] = {"name": f"{run.arm.partition}/{run.arm.label}/seed{run.seed}"}
    if checkpoint is not None:
        values["checkpoint"] = checkpoint
    return values


def _with_args(config: FederateConfig, args: Any) -> FederateConfig:
    """`config` with command-line style overrides (`--federation.down_codec=int8`) set."""
    return with_values(config, override_tree(FederateConfig, list(args))) if args else config


def _invalid_as(what: str, make: Any) -> FederateConfig:
    """`make()` (the federate YAML or override strings applied), a mistake in it named as
    `what`'s."""
    try:
        config: FederateConfig = make()
    except UsageError as err:
        raise UsageError(f"{what}: the federate arguments are invalid: {err}") from None
    return config
