"""`app.typed_build`: plain nested values and `--a.b=value` strings read into frozen typed
configs, each value as the command-line parser takes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from fl_lightning.app.federate_settings import FederateConfig
from fl_lightning.app.typed_build import build, field_hint, merged, option_groups, override_tree
from fl_lightning.errors import UsageError


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


@dataclass(frozen=True)
class Inner:
    rate: float = 0.5
    kind: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    n: int = 1
    scale: float | None = None
    names: tuple[str, ...] = ()
    weights: dict[str, float] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)


def test_build_takes_each_value_as_its_field_type_says() -> None:
    built = build(Outer, {"scale": 2, "names": ["x", "y"], "weights": {"w": 3}, "inner": {}})
    assert built == Outer(scale=2.0, names=("x", "y"), weights={"w": 3.0}, inner=Inner())
    assert isinstance(built.scale, float) and isinstance(built.weights["w"], float)
    assert build(Outer, {"n": 4}).n == 4 and isinstance(build(Outer, {"n": 4}).n, int)
    assert build(Outer, {"scale": True}).scale is True  # a bool is no number: left to the checks
    assert build(Outer, {"inner": {"rate": 1}}).inner == Inner(rate=1.0)


def test_build_refuses_an_unknown_option_naming_the_closest_and_the_group() -> None:
    with pytest.raises(UsageError) as info:
        build(Outer, {"inner": {"rates": 1}})
    assert str(info.value) == (
        "inner.rates: no such option (did you mean inner.rate?); allowed: rate, kind (in inner)."
    )
    with pytest.raises(UsageError, match=r"^inner=5: inner is a group of options; give a dict"):
        build(Outer, {"inner": 5})
    with pytest.raises(
        UsageError, match=r"^zzz: no such option; allowed: n, scale, names, weights, inner\.$"
    ):
        build(Outer, {"zzz": 1})


def test_field_hint_walks_the_groups_and_names_what_is_allowed() -> None:
    assert field_hint(Outer, "inner.rate") is float
    with pytest.raises(UsageError) as info:
        field_hint(Outer, "inner.size")
    assert str(info.value) == "--inner.size: no such option; allowed in inner: rate, kind."
    with pytest.raises(UsageError, match=r"^--n\.x: no such option\.$"):
        field_hint(Outer, "n.x")  # `n` is no group: nothing is allowed below it


def test_override_tree_keeps_text_for_a_string_choice_and_the_last_override_wins() -> None:
    tree = override_tree(Outer, ["--inner.kind=b", "--n=2", "--n", "3", "--scale=None"])
    assert tree == {"inner": {"kind": "b"}, "n": 3, "scale": None}
    with pytest.raises(UsageError, match=r"^'n=2': allowed `--option=value`"):
        override_tree(Outer, ["n=2"])
    with pytest.raises(UsageError, match=r"^overrides='--n=2': allowed a list of arguments"):
        override_tree(Outer, "--n=2")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"^--names='\[a': not a value YAML can read\.$"):
        override_tree(Outer, ["--names=[a"])


def test_merged_keeps_the_rest_of_a_group_given_in_part() -> None:
    base = {"n": 1, "inner": {"rate": 0.1, "kind": "a"}, "names": ["p", "q"]}
    top = {"inner": {"kind": "b"}, "names": ["r"]}
    assert merged(Outer, base, top) == {
        "n": 1,
        "inner": {"rate": 0.1, "kind": "b"},  # a group: merged option by option
        "names": ["r"],  # a list: replaced whole
    }
    assert base["inner"] == {"rate": 0.1, "kind": "a"}  # a new tree: the base is not changed


def test_option_groups_are_the_nested_groups_only() -> None:
    assert option_groups(Outer) == {"inner": {}}
