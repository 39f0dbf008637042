"""`parsers.federate_parser`: the federate parser, read into the plain tree of the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.errors import UsageError
from fl_lightning.parsers.federate_parser import build_parser, federate_tree, parse_federate

SMOKE = "configs/federate/smoke.yaml"


def test_the_tree_is_plain_values_in_the_yaml_layout() -> None:
    tree = parse_federate(SMOKE, ["--seed", "3"], {"data": {"num_clients": 8}})
    assert tree["seed"] == 3 and tree["data"]["num_clients"] == 8
    assert isinstance(tree["federation"], dict) and isinstance(tree["seeds"], dict)
    assert "__path__" not in tree
    assert FederateConfig.from_dict(tree).data.num_clients == 8


def test_a_path_in_the_yaml_is_found_beside_it(tmp_path: Path) -> None:
    (tmp_path / "pre.yaml").write_text("trainer:\n  max_epochs: 1\n")
    (tmp_path / "fed.yaml").write_text("pretrain_config: pre.yaml\n")
    cfg = build_parser().parse_args(["--config", str(tmp_path / "fed.yaml")])
    assert federate_tree(cfg)["pretrain_config"] == str((tmp_path / "pre.yaml").resolve())
    # the command's --config files are kept beside the options (the W&B run config names them)
    assert federate_tree(cfg)["config"] == (str(tmp_path / "fed.yaml"),)
    tree = parse_federate(tmp_path / "fed.yaml")
    assert tree["pretrain_config"] == str((tmp_path / "pre.yaml").resolve())


def test_mistakes_are_usage_errors_never_exits() -> None:
    with pytest.raises(UsageError, match="federate config"):
        parse_federate(SMOKE, ["--rounds", "many"])
    with pytest.raises(UsageError, match="no_such_option"):
        parse_federate(SMOKE, values={"no_such_option": 1})
    with pytest.raises(UsageError, match=r"federate_config\(config\)='nowhere\.yaml'"):
        parse_federate("nowhere.yaml")
