"""`parsers.config_keys`: a YAML's keys checked against a parser's options."""

from __future__ import annotations

from pathlib import Path

import pytest

from fl_lightning.config_files import PRETRAIN_GROUPS
from fl_lightning.errors import UsageError
from fl_lightning.parsers.config_keys import check_config_args, check_options_file
from fl_lightning.parsers.federate_parser import build_parser


def test_a_misspelt_key_is_named_with_the_closest(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("rouns: 3\n")
    with pytest.raises(UsageError, match=r"unknown option rouns \(did you mean rounds\?\)"):
        check_options_file("--config", path, build_parser().get_defaults())
    path.write_text("federation:\n  rouds: 3\n")
    with pytest.raises(UsageError) as info:
        check_options_file("--config", path, build_parser().get_defaults())
    assert "unknown option federation.rouds (did you mean federation.rounds?)" in str(info.value)
    assert "allowed in federation:" in str(info.value)
    path.write_text("federation:\n  rounds: 3\n")
    assert check_options_file("--config", path, build_parser().get_defaults()) == {
        "federation": {"rounds": 3}
    }


def test_every_config_file_of_an_argv_is_checked(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("seed: 1\n")
    bad.write_text("data: 5\n")
    defaults = build_parser().get_defaults()
    check_config_args(["--config", str(good), "--rounds", "2"], defaults)
    with pytest.raises(UsageError, match=r"bad\.yaml.*`data: 5` is not allowed"):
        check_config_args([f"--config={good}", "-c", str(bad)], defaults)
    with pytest.raises(UsageError, match="`data: 5` is not allowed"):  # groups only (pretrain)
        check_config_args(["--config", str(bad)], PRETRAIN_GROUPS)
