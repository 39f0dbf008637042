"""`FederateConfig`: the typed, frozen value of a federation's options, checked when built,
written to and read back from config.yaml as the command's parser wrote it."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml

import fl_lightning as fl
from fl_lightning.app.federate_groups import DataOptions, ModelOptions
from fl_lightning.app.federate_resolution import checked, resolved
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.data.modules import FederatedDataModule
from fl_lightning.errors import UsageError
from fl_lightning.federated.config import FederationConfig, Seeds
from fl_lightning.models.classifier import Classifier
from fl_lightning.parsers.federate_parser import build_parser, federate_tree
from fl_lightning.recorded_paths import recorded_config_text

SMOKE = "configs/federate/smoke.yaml"


def test_a_yaml_gives_a_typed_config_with_the_yaml_names() -> None:
    config = fl.federate_config(SMOKE)
    assert isinstance(config, FederateConfig)
    assert isinstance(config.federation, FederationConfig) and config.federation.rounds == 3
    assert isinstance(config.data, DataOptions) and config.data.num_clients == 10
    assert isinstance(config.model, ModelOptions) and config.model.model == "mlp"
    assert isinstance(config.seeds, Seeds) and config.seeds.split is None  # filled when resolved
    assert config.client.batch_size == 16 and config.sparsity == 0.8
    assert config.pretrain_overrides == ("--trainer.enable_progress_bar=false",)
    # a path in the YAML is found beside the YAML
    assert Path(config.pretrain_config).is_absolute()
    assert Path(config.pretrain_config).parts[-2:] == ("pretrain", "smoke.yaml")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sparsity": 1.0}, r"--sparsity=1\.0"),
        ({"rounds": 0}, r"--rounds=0"),
        ({"data": {"num_clients": 0}}, r"data\.num_clients"),
        ({"data": {"alpha": 0.0}}, r"data\.alpha=0\.0"),
        ({"model": {"lr": 0.0}}, r"model\.lr=0\.0"),
        ({"client": {"batch_size": 0}}, r"client\.batch_size=0"),
        ({"federation": {"clients_per_round": 50}}, r"clients_per_round=50"),
        ({"seeds": {"init": -1}}, r"--seeds\.init=-1"),
        ({"method": "fedavg", "ticket": "t.pt"}, r"--ticket is for the pruned methods"),
        ({"checkpoint": "no/such.ckpt"}, r"--checkpoint='no/such\.ckpt': no such file"),
    ],
)
def test_a_bad_value_is_refused_when_the_config_is_built(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        fl.federate_config(SMOKE, values=values)


def test_the_typed_value_checks_itself_without_a_parser() -> None:
    with pytest.raises(UsageError, match=r"--method='best' is not known"):
        FederateConfig(method="best")
    with pytest.raises(UsageError, match=r"--sparsity=1\.5"):
        FederateConfig(method="proposed", sparsity=1.5)
    with pytest.raises(UsageError, match=r"model\.momentum=1\.0"):
        ModelOptions(momentum=1.0)
    with pytest.raises(UsageError, match=r"data\.partition='zipf' is not known"):
        FederateConfig.from_dict({"data": {"partition": "zipf"}})
    with pytest.raises(UsageError, match=r"federation\.no_such_option: no such option"):
        FederateConfig.from_dict({"federation": {"no_such_option": 1}})
    with pytest.raises(UsageError, match=r"wandb=5: wandb is a group of options"):
        FederateConfig.from_dict({"wandb": 5})
    with pytest.raises(UsageError, match=r"seeds=None: seeds is a group of options"):
        FederateConfig.from_dict({"seeds": None})
    with pytest.raises(UsageError, match=r"--rounds=0 must be >= 1"):
        checked(FederateConfig(rounds=0))


def test_the_config_is_frozen_and_resolving_makes_a_new_one() -> None:
    config = fl.federate_config(SMOKE, values={"rounds": 2, "seed": 7})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.rounds = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.federation.rounds = 5  # type: ignore[misc]
    done = resolved(config)
    assert (done.rounds, done.federation.rounds) == (2, 2)
    assert done.seeds == Seeds(7, 7, 7, 7, 7) and done.data.split_seed == 7
    assert done.output is not None and done.output.startswith("runs/federate/proposed-")
    # the given value is unchanged, and resolving twice is resolving once
    # (`rounds` given: both of its homes hold it, `parsers.one_home`)
    assert (config.federation.rounds, config.seeds.split, config.output) == (2, None, None)
    assert resolved(done) == done


def test_config_yaml_round_trip(tmp_path: Path) -> None:
    config = resolved(fl.federate_config(SMOKE, values={"output": str(tmp_path / "run")}))
    config = dataclasses.replace(config, provenance={"method": "proposed", "init_seed": 0})
    path = tmp_path / "config.yaml"
    path.write_text(config.to_yaml())
    assert FederateConfig.from_yaml(path.read_text()) == config
    assert FederateConfig.from_dict(yaml.safe_load(path.read_text())).to_yaml() == config.to_yaml()


def test_config_yaml_is_the_text_the_parser_wrote_with_paths_recorded(tmp_path: Path) -> None:
    parser = build_parser()
    given = ["--rounds", "2", "--federation.clients_per_round", "4", "--progress", "false"]
    for argv in ([], given):
        cfg = parser.parse_args(argv)
        assert FederateConfig.from_dict(federate_tree(cfg)).to_yaml() == parser.dump(
            cfg, skip_none=False
        )
    # resolved, as a run writes it: no absolute path (a project config as configs/...)
    config = resolved(fl.federate_config(SMOKE, values={"output": str(tmp_path / "run")}))
    recorded = yaml.safe_load(recorded_config_text(config.to_yaml()))
    assert recorded["pretrain_config"] == "configs/pretrain/smoke.yaml"
    assert not Path(recorded["output"]).is_absolute()


def test_the_packaged_config_is_found_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = fl.federate_config(SMOKE, values={"rounds": 1})
    assert config.federation.rounds == 1 and config.rounds == 1 and config.data.num_clients == 10
    assert Path(config.pretrain_config).is_file()
    with pytest.raises(UsageError, match=r"--sparsity=1\.0"):
        fl.federate_config(SMOKE, values={"sparsity": 1.0})


def test_the_groups_mirror_the_signatures_they_stand_for() -> None:
    """`DataOptions` is `FederatedDataModule`'s arguments bar `batch_size`, `ModelOptions`
    `Classifier`'s bar the three federate sets itself: same names, order and defaults."""

    def arguments(cls: type, skip: set[str]) -> list[tuple[str, Any]]:
        params = inspect.signature(cls.__init__).parameters.values()  # type: ignore[misc]
        return [(p.name, p.default) for p in params if p.name not in {"self", *skip}]

    def fields(cls: type) -> list[tuple[str, Any]]:
        return [(f.name, f.default) for f in dataclasses.fields(cls)]

    assert fields(DataOptions) == arguments(FederatedDataModule, {"batch_size"})
    assert fields(ModelOptions) == arguments(Classifier, {"dataset", "dae_checkpoint", "widths"})
    # and the whole config's defaults are the parser's
    parser = build_parser()
    assert FederateConfig().to_yaml() == parser.dump(parser.get_defaults(), skip_none=False)


def test_the_yaml_files_read_are_kept_beside_the_options_not_among_them() -> None:
    """`--config` files are how the options were given: named in the W&B run config as
    before, but neither in config.yaml nor in the config's equality."""
    cfg = build_parser().parse_args(["--config", SMOKE])
    config = FederateConfig.from_dict(federate_tree(cfg))
    assert config.config is not None and Path(config.config[0]).parts[-2:] == (
        "federate",
        "smoke.yaml",
    )
    assert "config" not in config.to_dict()
    assert config == dataclasses.replace(config, config=None)
