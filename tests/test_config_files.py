"""`fl_lightning.config_files`: a YAML config checked before any parser sees it, one line each."""

from __future__ import annotations

from pathlib import Path

import pytest

from fl_lightning.config_files import (
    PRETRAIN_GROUPS,
    check_config_file,
    read_config_file,
    with_defaults,
)
from fl_lightning.errors import UsageError


def write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "c.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def test_a_readable_mapping_is_returned(tmp_path: Path) -> None:
    path = write(tmp_path, "method: proposed\nfederation:\n  rounds: 3\n")
    assert read_config_file("--config", path) == {"method": "proposed", "federation": {"rounds": 3}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00binary", "is not a text file (not UTF-8)"),
        ("a: [1, 2\n", "is not valid YAML (line "),
        ("", "is empty; give a YAML mapping"),
        ("- 1\n- 2\n", "holds a list, not a mapping of options"),
        (
            "method: fedavg\nrounds: 2\nmethod: proposed\n",
            "key method is given twice (lines 1 and 3)",
        ),
        ("data:\n  alpha: 1\n  alpha: 2\n", "key data.alpha is given twice (lines 2 and 3)"),
    ],
)
def test_each_broken_file_is_one_line_naming_it(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(UsageError) as info:
        read_config_file("--config", path)
    assert str(info.value).startswith(f"--config={str(path)!r}")
    assert message in str(info.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--pretrain_config='.*nowhere\.yaml': no such file"):
        read_config_file("--pretrain_config", tmp_path / "nowhere.yaml")


def test_a_group_given_a_scalar_is_refused(tmp_path: Path) -> None:
    assert check_config_file(
        "--config", write(tmp_path, "trainer:\n  max_epochs: 1\n"), PRETRAIN_GROUPS
    )
    for text, shown in (("model: null\n", "`model: null`"), ("data: 5\n", "`data: 5`")):
        with pytest.raises(UsageError) as info:
            check_config_file("--config", write(tmp_path, text), PRETRAIN_GROUPS)
        assert f"{shown} is not allowed" in str(info.value)
        assert "is a group of options" in str(info.value)


def test_with_defaults_fills_what_an_older_record_lacks() -> None:
    record = {"method": "fedavg", "federation": {"rounds": 2}}
    defaults = {
        "method": "proposed",
        "scope": "global",
        "federation": {"rounds": 100, "eval_every": 1},
    }
    assert with_defaults(record, defaults) == {
        "method": "fedavg",
        "federation": {"rounds": 2, "eval_every": 1},
        "scope": "global",
    }
    assert record == {"method": "fedavg", "federation": {"rounds": 2}}  # not changed in place
