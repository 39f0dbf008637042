"""`CompareConfig`: a comparison's options as one typed, frozen value, checked when built; the
grid's runs built from typed `FederateConfig`s, and a run's identity their equality bar the
volatile fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fl_lightning.app.compare_groups import CodecSpec, PartitionSpec
from fl_lightning.app.compare_loader import compare_config
from fl_lightning.app.compare_settings import CompareConfig
from fl_lightning.app.grid_fdae import FdaeSpec
from fl_lightning.commands.compare_parser import build_parser, compare_config_of
from fl_lightning.errors import UsageError

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
