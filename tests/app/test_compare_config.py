"""`CompareConfig`: a comparison's options as one typed, frozen value, checked when built; the
grid's runs built from typed `FederateConfig`s, and a run's identity their equality bar the
volatile fields."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import fl_lightning as fl
from fl_lightning.app.compare_groups import CodecSpec, PartitionSpec
from fl_lightning.app.compare_loader import compare_config
from fl_lightning.app.compare_settings import CompareConfig
from fl_lightning.app.comparison import grid_of
from fl_lightning.app.federate_groups import WandbConfig
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.app.grid import GridConfigs, plan_runs
from fl_lightning.app.grid_configs import run_values
from fl_lightning.app.grid_fdae import FdaeSpec
from fl_lightning.app.run_identity import VOLATILE_FIELDS, recorded_identity, wanted_identity
from fl_lightning.app.typed_build import override_tree
from fl_lightning.commands.compare_parser import build_parser, compare_config_of
from fl_lightning.config_paths import resolve_config_path
from fl_lightning.errors import UsageError
from fl_lightning.parsers.federate_parser import build_parser as build_federate_parser
from fl_lightning.parsers.federate_parser import federate_tree

REPO = Path(__file__).resolve().parents[2]
COMPARE_CONFIGS = sorted((REPO / "configs" / "compare").glob("*.yaml"))
SMOKE = str(REPO / "configs" / "compare" / "smoke.yaml")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"methods": []}, "--methods=[]: the comparison needs at least one."),
        ({"methods": ["best"]}, "--methods='best' is not known; choose one of: fedavg"),
        ({"methods": ["fedavg", "fedavg"]}, "--methods=['fedavg', 'fedavg'] repeats a value."),
        ({"seeds": [-1]}, "--seeds=-1 must be >= 0."),
        ({"sparsities": [1.5]}, "--sparsities=1.5"),
        ({"target_acc": 0.0}, "--target_acc=0.0"),
        ({"target_acc": []}, "--target_acc=[]: give at least one target accuracy"),
        ({"budget_rounds": [0]}, "--budget_rounds=[0]: rounds must be >= 1."),
        ({"jobs": 0}, "--jobs=0 must be >= 1."),
        ({"threads": 0}, "--threads=0 must be >= 1"),
        ({"executor": "slurm"}, "--executor='slurm' is not known; choose one of: local, ray."),
        ({"output": " "}, "--output=' ' names no folder"),
        (
            {"partitions": [PartitionSpec("iid"), PartitionSpec("iid")]},
            "--partitions: two partitions share a name (['iid', 'iid'])",
        ),
        (
            {"codecs": [CodecSpec("a+b", ("fedavg",))]},
            "--codecs: name 'a+b' must be non-empty, without '/' or '+'.",
        ),
        ({"codecs": [CodecSpec("int8")]}, "--codecs: setting 'int8' lists no methods."),
        ({"row_seeds": {"fedavg": [3]}}, "--row_seeds: fedavg: [3] must be distinct seeds"),
    ],
)
def test_a_bad_option_is_refused_when_the_config_is_built(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError) as info:
        CompareConfig(**options)
    assert message in str(info.value)


def test_the_groups_check_themselves_when_built() -> None:
    with pytest.raises(UsageError, match=r"fdae\.rounds=0 must be >= 1"):
        compare_config(SMOKE, fdae={"rounds": 0})
    with pytest.raises(UsageError, match=r"--ray\.num_cpus=0\.0 must be > 0"):
        compare_config(SMOKE, values={"ray": {"num_cpus": 0}})
    with pytest.raises(UsageError, match=r"--partitions name='uniform' is not known"):
        compare_config(SMOKE, partitions=[{"name": "uniform"}])
    with pytest.raises(UsageError, match=r"report\.rank_by='cost' is not a ranking"):
        compare_config(SMOKE, report={"rank_by": "cost"})
    assert compare_config(SMOKE, report={"rank_by": "bytes"}).report.rank_by == "bytes"
    with pytest.raises(UsageError, match=r"no_such: no such option"):
        compare_config(SMOKE, no_such=1)


def test_the_loader_raises_usage_errors_never_system_exit(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"compare_config\(config\)='missing.yaml': no such"):
        compare_config("missing.yaml")
    (tmp_path / "bad.yaml").write_text("methods: [fedavg]\njobs: 0\n")
    with pytest.raises(UsageError, match=r"--jobs=0 must be >= 1"):
        compare_config(tmp_path / "bad.yaml")
    (tmp_path / "group.yaml").write_text("wandb: 5\n")
    with pytest.raises(UsageError, match=r"`wandb: 5` is not allowed: wandb is a group"):
        compare_config(tmp_path / "group.yaml")


def test_the_loader_finds_the_yaml_and_its_federate_config_as_the_cli_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not the repository: the packaged configs serve
    config = compare_config("configs/compare/smoke.yaml", output="out", seeds=[0, 1])
    assert isinstance(config, fl.CompareConfig)
    assert Path(config.federate_config).is_absolute()
    assert Path(config.federate_config).parts[-2:] == ("federate", "smoke.yaml")
    assert (config.output, config.seeds) == ("out", (0, 1))  # lists held as tuples
    assert config.config is not None and config.config[0].endswith("smoke.yaml")
    # `values` nests like the YAML: a group given in part keeps the rest of its options
    quiet = compare_config(SMOKE, values={"wandb": {"group": "g"}})
    assert (quiet.wandb.group, quiet.wandb.project) == ("g", compare_config(SMOKE).wandb.project)


@pytest.mark.parametrize("path", COMPARE_CONFIGS, ids=lambda p: p.stem)
def test_every_compare_yaml_loads_as_the_command_line_parses_it(path: Path) -> None:
    config = compare_config(path)
    parsed = compare_config_of(build_parser().parse_args(["--config", str(path)]))
    assert config == parsed  # the Python loader and the command agree, value by value
    assert CompareConfig.from_yaml(config.to_yaml()) == config  # the YAML round trip
    assert isinstance(config.fdae, FdaeSpec) and all(
        isinstance(s, float) for s in config.sparsities
    )


def test_the_command_lines_defaults_are_the_configs_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default federate config is found among the packaged ones
    config = compare_config_of(build_parser().parse_args([]))  # defaults kept as dataclasses
    assert config == CompareConfig(federate_config=config.federate_config)
    assert config.partitions == (PartitionSpec("iid"),) and config.fdae == FdaeSpec()


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


def test_overrides_are_read_by_the_type_of_their_option() -> None:
    args = ["--rounds=20", "--federation.clients_per_round", "4", "--wandb.group=1"]
    args += ["--federation.up_codec=int8", "--federation.server_lr=null", "--model.lr=1"]
    tree = override_tree(FederateConfig, args)
    assert tree == {
        "rounds": 20,
        "federation": {"clients_per_round": 4, "up_codec": "int8", "server_lr": None},
        "wandb": {"group": "1"},  # a string option keeps the text as written
        "model": {"lr": 1},
    }
    with pytest.raises(UsageError, match=r"--federation\.up_codek: no such option"):
        override_tree(FederateConfig, ["--federation.up_codek=int8"])
    with pytest.raises(UsageError, match=r"--rounds: give it a value"):
        override_tree(FederateConfig, ["--rounds"])


def _smoke_run_config(tmp_path: Path) -> FederateConfig:
    grid = grid_of(compare_config(SMOKE, output=str(tmp_path / "cmp"), methods=["fedavg"]))
    return GridConfigs(grid).run(plan_runs(grid)[0], None)


def test_identity_ignores_the_volatile_fields_and_nothing_else(tmp_path: Path) -> None:
    config = _smoke_run_config(tmp_path)
    assert config.federation.clients_per_round == 4.0  # typed: the float option's float
    moved = dataclasses.replace(
        config,
        output=str(tmp_path / "elsewhere" / "runs" / "iid" / "fedavg" / "seed0"),
        resume=True,
        progress=True,
        verbose=True,
        wandb=WandbConfig(enabled=False, project="p", group="g", name="n"),
        pretrain_config=str(tmp_path / "other.yaml"),
        provenance={"anything": 1},
        checkpoint=str(tmp_path / "never_read.ckpt"),  # fedavg reads no DAE
        sparsity=0.5,  # a dense method's sparsity is none
    )
    assert set(VOLATILE_FIELDS) >= {"output", "resume", "wandb", "pretrain_config"}
    assert wanted_identity(moved) == wanted_identity(config)
    for changed in (
        dataclasses.replace(config, rounds=3),
        dataclasses.replace(config, seed=1),
        dataclasses.replace(
            config, federation=dataclasses.replace(config.federation, up_codec="int8")
        ),
    ):
        assert wanted_identity(changed) != wanted_identity(config)


def test_a_finished_runs_record_is_judged_by_value_not_by_text(tmp_path: Path) -> None:
    config = _smoke_run_config(tmp_path)
    # the same options spelt otherwise: other layout, `4` for `4.0`, other W&B and folder
    text = config.to_yaml().replace("clients_per_round: 4.0", "clients_per_round: 4")
    assert text != config.to_yaml()
    record = text.replace("progress: false", "progress: true")
    assert recorded_identity(record, config) == wanted_identity(config)
    other = config.to_yaml().replace("local_epochs: 1", "local_epochs: 2")
    assert other != config.to_yaml()
    assert recorded_identity(other, config) != wanted_identity(config)
    # options that no config of today has: not the run asked for
    assert recorded_identity("no_such_option: 1\n", config) is None


def test_compare_takes_only_its_typed_config() -> None:
    with pytest.raises(UsageError, match=r"compare\(config='smoke.yaml'\): allowed the config"):
        fl.compare("smoke.yaml")  # type: ignore[arg-type]
    assert CompareConfig().targets() == [0.8]
    assert CompareConfig(target_acc=(0.7, 1)).targets() == [0.7, 1.0]
