"""`app.config_yaml`: a frozen config written as YAML and read back (FederateConfig's,
CompareConfig's and any other `YamlConfig`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from fl_lightning.app.compare_groups import CodecSpec
from fl_lightning.app.compare_settings import CompareConfig
from fl_lightning.app.config_yaml import YamlConfig, plain_value
from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.errors import UsageError
from fl_lightning.federated.config import FederationConfig


@dataclass(frozen=True)
class Inner:
    rate: float = 0.5
    names: tuple[str, ...] = ("a",)


@dataclass(frozen=True)
class Toy(YamlConfig):
    STEP: ClassVar[str] = "toy"

    zeta: int = 1
    alpha: str | None = None
    inner: Inner = field(default_factory=Inner)
    where: Path = Path("runs/x")
    config: str | None = None

    @classmethod
    def from_dict(cls, tree: Mapping[str, Any]) -> Toy:
        values = dict(tree)
        if "inner" in values:
            inner = dict(values["inner"])
            inner["names"] = tuple(inner.get("names", ()))
            values["inner"] = Inner(**inner)
        if "where" in values:
            values["where"] = Path(values["where"])
        return cls(**values)


def test_the_yaml_keeps_field_order_drops_non_options_and_writes_plain_values() -> None:
    toy = Toy(zeta=3, alpha="é", inner=Inner(0.25, ("b", "c")), config="given.yaml")
    # field order (zeta before alpha: not sorted), `config` left out, tuple as list, Path as
    # text, unicode as written, block style
    assert toy.to_yaml() == (
        "zeta: 3\nalpha: é\ninner:\n  rate: 0.25\n  names:\n  - b\n  - c\nwhere: runs/x\n"
    )
    assert toy.to_dict() == {
        "zeta": 3,
        "alpha": "é",
        "inner": {"rate": 0.25, "names": ["b", "c"]},
        "where": "runs/x",
    }


def test_from_yaml_reads_back_through_the_steps_own_from_dict() -> None:
    toy = Toy(zeta=3, inner=Inner(0.25, ("b",)))
    assert Toy.from_yaml(toy.to_yaml()) == toy
    assert Toy.from_yaml("") == Toy()  # an empty file: every option at its default


@pytest.mark.parametrize(
    ("cls", "step"), [(Toy, "toy"), (FederateConfig, "federate"), (CompareConfig, "compare")]
)
def test_a_yaml_that_is_not_a_mapping_is_refused_naming_the_step(
    cls: type[YamlConfig], step: str
) -> None:
    with pytest.raises(UsageError, match=rf"a {step} config must be a mapping of options, not"):
        cls.from_yaml("- 1\n- 2\n")


def test_plain_value_keeps_numbers_as_given() -> None:
    # the parser dumps 4.0 as 4.0 and 10 as 10: no coercion either way
    assert plain_value({"a": (4.0, 10), "b": [Path("p")]}) == {"a": [4.0, 10], "b": ["p"]}


def test_federate_and_compare_configs_round_trip() -> None:
    federate = FederateConfig(
        method="fedavg", sparsity=None, rounds=3, federation=FederationConfig(rounds=3)
    )
    text = federate.to_yaml()
    assert text.startswith("method: fedavg\nengine: local\n")
    assert "config:" not in text.splitlines()[0]
    assert FederateConfig.from_yaml(text) == federate
    compare = CompareConfig(
        methods=("fedavg", "proposed"),
        sparsities=(0.5,),
        codecs=(CodecSpec("int8", ("fedavg",), ("--federation.down_codec=int8",)),),
    )
    again = CompareConfig.from_yaml(compare.to_yaml())
    assert again == compare
    assert again.to_dict() == compare.to_dict()  # by value: an int default reads back a float
    assert compare.to_dict()["codecs"] == [
        {"name": "int8", "methods": ["fedavg"], "overrides": ["--federation.down_codec=int8"]}
    ]
