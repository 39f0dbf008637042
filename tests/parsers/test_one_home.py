"""`--rounds` and `--federation.rounds` are one fact: one value per place, the last place wins."""

from __future__ import annotations

from pathlib import Path

import pytest

import fl_lightning as fl
from fl_lightning.commands.federate import main as federate_main
from fl_lightning.errors import UsageError
from fl_lightning.parsers.federate_parser import build_parser, command_line_tree
from fl_lightning.parsers.one_home import Source, one_home, spelled_both_ways

SMOKE = "configs/federate/smoke.yaml"  # federation.rounds: 3


def test_two_values_in_one_place_are_refused_naming_both() -> None:
    with pytest.raises(UsageError) as info:
        fl.federate_config(SMOKE, values={"rounds": 2, "federation": {"rounds": 5}})
    assert "--rounds=2 and --federation.rounds=5 (values)" in str(info.value)
    with pytest.raises(UsageError, match=r"--rounds=2 and --federation.rounds=5 \(args\)"):
        fl.federate_config(SMOKE, args=["--rounds", "2", "--federation.rounds=5"])


def test_a_yaml_giving_both_differently_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "both.yaml"
    path.write_text("rounds: 4\nfederation:\n  rounds: 7\n")
    with pytest.raises(UsageError) as info:
        fl.federate_config(path)
    assert "--rounds=4 and --federation.rounds=7" in str(info.value)
    assert "both.yaml" in str(info.value)
    path.write_text("rounds: 4\nfederation:\n  rounds: 4\n")  # the same value twice is one fact
    assert fl.federate_config(path).federation.rounds == 4


def test_the_command_refuses_both_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["--config", SMOKE, "--rounds", "2", "--federation.rounds", "5", "--output", str(out)]
    with pytest.raises(UsageError, match=r"--rounds=2 and --federation\.rounds=5 \(the command"):
        federate_main(argv)
    assert not out.exists()


def test_one_spelling_overrides_a_file_in_both_homes() -> None:
    config = fl.federate_config(SMOKE, values={"rounds": 1})
    assert config.rounds == 1 and config.federation.rounds == 1
    config = fl.federate_config(SMOKE, args=["--federation.rounds", "2"])
    assert config.rounds == 2 and config.federation.rounds == 2
    assert fl.federate_config(SMOKE).rounds == 3  # the YAML's federation.rounds, in both homes
    assert fl.federate_config().rounds is None  # not given at all: `resolved` fills it in


def test_a_recorded_config_yaml_takes_either_spelling(tmp_path: Path) -> None:
    """A run's config.yaml holds both (equal); `--federation.rounds 6` on top now means 6
    (the recorded `rounds: 4` used to win without a word)."""
    recorded = tmp_path / "config.yaml"
    recorded.write_text("rounds: 4\nfederation:\n  rounds: 4\n")
    for option in ("--rounds", "--federation.rounds"):
        argv = ["--config", str(recorded), option, "6"]
        tree = command_line_tree(build_parser().parse_args(argv), argv)
        assert tree["rounds"] == 6 and tree["federation"]["rounds"] == 6, option


def test_one_home_by_hand() -> None:
    tree = {"rounds": 9, "federation": {"rounds": 3}}
    sources = [Source("a.yaml", {"federation.rounds": 3}), Source("cli", {"rounds": "9"})]
    assert one_home(tree, sources) == {"rounds": 9, "federation": {"rounds": 9}}
    tree = {"rounds": 9, "federation": {"rounds": 3}}
    sources = [Source("cli", {"rounds": "9"}), Source("b.yaml", {"federation.rounds": 3})]
    assert one_home(tree, sources) == {"rounds": 3, "federation": {"rounds": 3}}
    same = [Source("cli", {"rounds": "3", "federation.rounds": 3})]  # "3" typed, 3 parsed
    assert one_home({"rounds": 3, "federation": {"rounds": 3}}, same)["rounds"] == 3
    untouched = {"rounds": None, "federation": {"rounds": 50}}
    assert one_home(dict(untouched), []) == untouched


def test_the_command_line_spells_a_typed_fact_both_ways() -> None:
    """So the parse, and a `--print_config` of it, hold one value (a printed config then runs)."""
    assert spelled_both_ways(["--rounds", "2", "--seed", "1"]) == [
        "--rounds",
        "2",
        "--federation.rounds=2",
        "--seed",
        "1",
    ]
    assert spelled_both_ways(["--federation.rounds=4"]) == ["--federation.rounds=4", "--rounds=4"]
    assert spelled_both_ways(["--rounds", "3", "--federation.rounds=3"])[-1] == "--rounds=3"
    with pytest.raises(UsageError, match=r"--rounds=2 and --federation\.rounds=5"):
        spelled_both_ways(["--rounds=2", "--federation.rounds", "5"])
