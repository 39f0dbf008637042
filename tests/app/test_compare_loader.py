"""`app.compare_loader.compare_config`: a comparison's YAML read as the command reads it,
found as the command finds it, every mistake a `UsageError`."""

from __future__ import annotations

from pathlib import Path

import pytest

import fl_lightning as fl
from fl_lightning.app.compare_loader import compare_config
from fl_lightning.errors import UsageError

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs" / "compare" / "smoke.yaml")


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
